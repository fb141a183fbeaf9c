// With DROP_POKES=1 the namespace lifecycle object is not woken by a new namespace, so a pod
// created at once in it finds no default account made by it: admission makes the account.
import { expect, it } from "vitest";
import { call } from "../worker/helpers.ts";

it("a pod created right after its namespace runs as the namespace's default account", async () => {
  expect((await call("POST", "/api/v1/namespaces", { metadata: { name: "fresh" } })).status).toBe(
    201,
  );
  const res = await call("POST", "/api/v1/namespaces/fresh/pods", {
    metadata: { name: "first" },
    spec: { containers: [{ name: "a", image: "busybox" }] },
  });
  expect(res.status).toBe(201);
  expect(res.body.spec.serviceAccountName).toBe("default");
  expect(res.body.spec.volumes[0].name).toMatch(/^kube-api-access-/);
  const account = await call("GET", "/api/v1/namespaces/fresh/serviceaccounts/default");
  expect(account.status).toBe(200);
  // A missing account of another name is still refused.
  const other = await call("POST", "/api/v1/namespaces/fresh/pods", {
    metadata: { name: "second" },
    spec: { serviceAccountName: "builder", containers: [{ name: "a", image: "busybox" }] },
  });
  expect(other.status).toBe(403);
});
