// With DROP_POKES=1 the scheduler runs only when a test steps it (or the sweep pokes it), so a
// pod deleted and made again under the same name lands in one of its passes as a single change.
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { call, eventually } from "../worker/helpers.ts";
import { heartbeat, registerNode } from "../worker/hollow.ts";

const pods = "/api/v1/namespaces/default/pods";
const pod = {
  metadata: { name: "again" },
  spec: { containers: [{ name: "a", image: "busybox" }] },
};
const boundTo = async () => (await call("GET", `${pods}/again`)).body.spec?.nodeName;

it("binds a pod made again under the name of a bound pod deleted since its last pass", async () => {
  await registerNode("r1");
  await heartbeat("r1");
  const scheduler = env.SCHEDULER.getByName("scheduler");
  expect((await call("POST", pods, pod)).status).toBe(201);
  await eventually(async () => (await scheduler.reconcileNow()) !== undefined && boundTo());
  expect(await boundTo()).toBe("r1");

  // A StatefulSet replaces its pods this way: the same name, a new pod, no node yet.
  expect((await call("DELETE", `${pods}/again`, { gracePeriodSeconds: 0 })).status).toBe(200);
  expect((await call("GET", `${pods}/again`)).status).toBe(404);
  expect((await call("POST", pods, pod)).status).toBe(201);
  await scheduler.reconcileNow();
  expect(await boundTo()).toBe("r1");
});
