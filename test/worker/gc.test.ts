import { describe, expect, it } from "vitest";
import { call, eventually } from "./helpers.ts";

const cm = (name: string, owner?: { name: string; uid: string }, block = false) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name,
    ...(owner && {
      ownerReferences: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          name: owner.name,
          uid: owner.uid,
          blockOwnerDeletion: block,
        },
      ],
    }),
  },
  data: { k: "v" },
});

const path = (ns: string, name = "") =>
  `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ""}`;

async function ownerWithDependent(ns: string, block = false) {
  const owner = await call("POST", path(ns), cm("owner"));
  const dep = await call(
    "POST",
    path(ns),
    cm("dep", { name: "owner", uid: owner.body.metadata.uid }, block),
  );
  expect(dep.status).toBe(201);
}

const exists = async (ns: string, name: string) =>
  (await call("GET", path(ns, name))).status === 200;

describe("garbage collection", () => {
  it("background deletion removes dependents after the owner", async () => {
    await ownerWithDependent("default");
    const del = await call("DELETE", path("default", "owner"), { propagationPolicy: "Background" });
    expect(del.status).toBe(200);
    expect(await exists("default", "owner")).toBe(false);
    await eventually(async () => !(await exists("default", "dep")));
  });

  it("foreground deletion keeps the owner until its blocking dependents are gone", async () => {
    await ownerWithDependent("default", true);
    const del = await call("DELETE", path("default", "owner"), { propagationPolicy: "Foreground" });
    expect(del.body.metadata.finalizers).toContain("foregroundDeletion");
    expect(del.body.metadata.deletionTimestamp).toBeTruthy();
    await eventually(async () => !(await exists("default", "dep")));
    await eventually(async () => !(await exists("default", "owner")));
  });

  it("orphan deletion keeps dependents and strips their owner reference", async () => {
    await ownerWithDependent("default");
    await call("DELETE", path("default", "owner"), { propagationPolicy: "Orphan" });
    await eventually(async () => !(await exists("default", "owner")));
    const dep = await call("GET", path("default", "dep"));
    expect(dep.status).toBe(200);
    expect(dep.body.metadata.ownerReferences).toBeUndefined();
  });
});

describe("namespace deletion", () => {
  it("shows Terminating, empties the namespace, then removes it", async () => {
    await call("POST", "/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "doomed" },
    });
    await call("POST", path("doomed"), cm("a"));
    // A finalizer holds "b", and so the namespace, until the test lets it go.
    const held = cm("b");
    (held.metadata as Record<string, unknown>).finalizers = ["example.com/hold"];
    await call("POST", path("doomed"), held);
    const del = await call("DELETE", "/api/v1/namespaces/doomed");
    expect(del.status).toBe(200);
    expect(del.body.status.phase).toBe("Terminating");
    const refused = await call("POST", path("doomed"), cm("c"));
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain("because it is being terminated");
    // Emptied but for what a finalizer holds; still Terminating.
    const b = await eventually(async () => {
      const items: any[] = (await call("GET", path("doomed"))).body.items;
      return items.length === 1 && items[0].metadata.deletionTimestamp && items[0];
    });
    expect(b.metadata.name).toBe("b");
    const ns = await call("GET", "/api/v1/namespaces/doomed");
    expect(ns.body.status.phase).toBe("Terminating");
    await call(
      "PATCH",
      path("doomed", "b"),
      { metadata: { finalizers: null } },
      {
        "content-type": "application/merge-patch+json",
      },
    );
    await eventually(async () => (await call("GET", "/api/v1/namespaces/doomed")).status === 404);
    const left = await call("GET", path("doomed"));
    expect(left.body.items).toEqual([]);
  });
});
