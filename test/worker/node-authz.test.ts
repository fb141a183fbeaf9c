// The node authorizer and node admission: a node credential acts for its own node only.
import { beforeAll, describe, expect, it } from "vitest";
import { call } from "./helpers.ts";
import { asBearer, joinNode } from "./nodes.ts";

const NS = "node-authz";
const merge = { "content-type": "application/merge-patch+json" };

type Caller = ReturnType<typeof asBearer>;
let a: Caller;
let aCidr: string;

const pod = (name: string, nodeName: string, spec: Record<string, unknown> = {}) => ({
  metadata: { name },
  spec: {
    nodeName,
    containers: [{ name: "c", image: "busybox" }],
    ...spec,
  },
});

const forbidden = (res: { status: number; body: any }, message: string) => {
  expect(res.status).toBe(403);
  expect(res.body).toMatchObject({ kind: "Status", reason: "Forbidden", code: 403 });
  expect(res.body.message).toBe(message);
};

beforeAll(async () => {
  // Pods are bound to "authz-a" and "authz-b", which never register a Node: no controller moves them.
  const joined = await joinNode("authz-a");
  a = asBearer(joined.credential);
  aCidr = joined.podCIDR;
  await call("POST", "/api/v1/namespaces", { metadata: { name: NS } });
  for (const [kind, name] of [
    ["secrets", "env-secret"],
    ["secrets", "volume-secret"],
    ["secrets", "pull-secret"],
    ["secrets", "b-secret"],
    ["secrets", "unreferenced"],
    ["configmaps", "env-config"],
    ["configmaps", "projected-config"],
  ])
    expect(
      (await call("POST", `/api/v1/namespaces/${NS}/${kind}`, { metadata: { name } })).status,
    ).toBe(201);
  const mine = pod("mine", "authz-a", {
    imagePullSecrets: [{ name: "pull-secret" }],
    containers: [
      {
        name: "c",
        image: "busybox",
        env: [{ name: "S", valueFrom: { secretKeyRef: { name: "env-secret", key: "k" } } }],
        envFrom: [{ configMapRef: { name: "env-config" } }],
      },
    ],
    volumes: [
      { name: "s", secret: { secretName: "volume-secret" } },
      { name: "p", projected: { sources: [{ configMap: { name: "projected-config" } }] } },
    ],
  });
  const theirs = pod("theirs", "authz-b", {
    volumes: [{ name: "s", secret: { secretName: "b-secret" } }],
  });
  for (const p of [mine, theirs, pod("doomed", "authz-a")])
    expect((await call("POST", `/api/v1/namespaces/${NS}/pods`, p)).status).toBe(201);
});

describe("node authorizer", () => {
  it("lets a node read and update the pods bound to it, and only those", async () => {
    expect((await a("GET", `/api/v1/namespaces/${NS}/pods/mine`)).status).toBe(200);
    const status = await a(
      "PATCH",
      `/api/v1/namespaces/${NS}/pods/mine/status`,
      { status: { phase: "Running" } },
      merge,
    );
    expect(status.status).toBe(200);
    expect(status.body.status.phase).toBe("Running");

    forbidden(
      await a("GET", `/api/v1/namespaces/${NS}/pods/theirs`),
      `pods "theirs" is forbidden: User "system:node:authz-a" cannot get resource "pods" in API group "" in the namespace "${NS}": no relationship found between node 'authz-a' and this object`,
    );
    forbidden(
      await a(
        "PATCH",
        `/api/v1/namespaces/${NS}/pods/theirs/status`,
        { status: { phase: "Failed" } },
        merge,
      ),
      `pods "theirs" is forbidden: User "system:node:authz-a" cannot patch resource "pods/status" in API group "" in the namespace "${NS}": no relationship found between node 'authz-a' and this object`,
    );
    // The spec of its own pod is not the node's to change.
    const spec = await a(
      "PATCH",
      `/api/v1/namespaces/${NS}/pods/mine`,
      { metadata: { labels: { x: "y" } } },
      merge,
    );
    expect(spec.status).toBe(403);
    const theirs = await call("GET", `/api/v1/namespaces/${NS}/pods/theirs`);
    expect(theirs.body.status?.phase).not.toBe("Failed");
  });

  it("lists and watches pods only with its own spec.nodeName field selector", async () => {
    forbidden(
      await a("GET", "/api/v1/pods"),
      `pods is forbidden: User "system:node:authz-a" cannot list resource "pods" in API group "" at the cluster scope: can only list/watch pods with spec.nodeName field selector`,
    );
    expect((await a("GET", `/api/v1/namespaces/${NS}/pods`)).status).toBe(403);
    expect((await a("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dauthz-b")).status).toBe(403);
    expect((await a("GET", "/api/v1/pods?watch=true")).status).toBe(403);
    const own = await a("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dauthz-a");
    expect(own.status).toBe(200);
    expect(own.body.items.map((p: any) => p.metadata.name).sort()).toEqual(["doomed", "mine"]);
  });

  it("deletes its own pods, not others'; a missing pod is 404", async () => {
    expect((await a("DELETE", `/api/v1/namespaces/${NS}/pods/theirs`)).status).toBe(403);
    expect(
      (await a("DELETE", `/api/v1/namespaces/${NS}/pods/doomed?gracePeriodSeconds=0`)).status,
    ).toBe(200);
    expect((await a("GET", `/api/v1/namespaces/${NS}/pods/no-such-pod`)).status).toBe(404);
    expect((await a("DELETE", `/api/v1/namespaces/${NS}/pods`)).status).toBe(403);
  });

  it("reads the Secrets and ConfigMaps its pods reference, and nothing else", async () => {
    for (const name of ["env-secret", "volume-secret", "pull-secret"])
      expect((await a("GET", `/api/v1/namespaces/${NS}/secrets/${name}`)).status, name).toBe(200);
    for (const name of ["env-config", "projected-config"])
      expect((await a("GET", `/api/v1/namespaces/${NS}/configmaps/${name}`)).status, name).toBe(
        200,
      );
    expect((await a("GET", `/api/v1/namespaces/${NS}/serviceaccounts/default`)).status).not.toBe(
      403,
    );
    forbidden(
      await a("GET", `/api/v1/namespaces/${NS}/secrets/unreferenced`),
      `secrets "unreferenced" is forbidden: User "system:node:authz-a" cannot get resource "secrets" in API group "" in the namespace "${NS}": no relationship found between node 'authz-a' and this object`,
    );
    // Referenced, but by another node's pod.
    expect((await a("GET", `/api/v1/namespaces/${NS}/secrets/b-secret`)).status).toBe(403);
    // A secret of the same name in another namespace is another object.
    expect((await a("GET", "/api/v1/namespaces/default/secrets/env-secret")).status).toBe(403);
    forbidden(
      await a("GET", `/api/v1/namespaces/${NS}/secrets`),
      `secrets is forbidden: User "system:node:authz-a" cannot list resource "secrets" in API group "" in the namespace "${NS}"`,
    );
    expect(
      (
        await a("PUT", `/api/v1/namespaces/${NS}/secrets/env-secret`, {
          metadata: { name: "env-secret" },
        })
      ).status,
    ).toBe(403);
  });

  it("follows init containers, CSI secrets, claims, ephemeral volumes and the service account", async () => {
    const claim = (name: string) => ({
      metadata: { name },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    });
    for (const [kind, body] of [
      ["secrets", { metadata: { name: "init-secret" } }],
      ["secrets", { metadata: { name: "csi-secret" } }],
      ["serviceaccounts", { metadata: { name: "builder" } }],
      ["serviceaccounts", { metadata: { name: "idle" } }],
      ["persistentvolumeclaims", claim("data")],
      ["persistentvolumeclaims", claim("extra-scratch")],
      ["persistentvolumeclaims", claim("unclaimed")],
    ] as const)
      expect((await call("POST", `/api/v1/namespaces/${NS}/${kind}`, body)).status).toBe(201);
    const extra = pod("extra", "authz-a", {
      serviceAccountName: "builder",
      initContainers: [
        {
          name: "init",
          image: "busybox",
          env: [{ name: "S", valueFrom: { secretKeyRef: { name: "init-secret", key: "k" } } }],
        },
      ],
      volumes: [
        { name: "d", persistentVolumeClaim: { claimName: "data" } },
        {
          name: "scratch",
          ephemeral: {
            volumeClaimTemplate: {
              spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
            },
          },
        },
        {
          name: "c",
          csi: { driver: "x.example.com", nodePublishSecretRef: { name: "csi-secret" } },
        },
      ],
    });
    const created = await call("POST", `/api/v1/namespaces/${NS}/pods`, extra);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const get = async (kind: string, name: string) =>
      (await a("GET", `/api/v1/namespaces/${NS}/${kind}/${name}`)).status;
    expect(await get("secrets", "init-secret")).toBe(200);
    expect(await get("secrets", "csi-secret")).toBe(200);
    expect(await get("serviceaccounts", "builder")).toBe(200);
    expect(await get("serviceaccounts", "idle")).toBe(403);
    expect(await get("persistentvolumeclaims", "data")).toBe(200);
    expect(await get("persistentvolumeclaims", "extra-scratch")).toBe(200);
    expect(await get("persistentvolumeclaims", "unclaimed")).toBe(403);
  });

  it("reads what the proxy and DNS roles need, writes events, and nothing more", async () => {
    for (const path of [
      "/api/v1/services",
      "/api/v1/endpoints",
      "/apis/discovery.k8s.io/v1/endpointslices",
      "/api/v1/namespaces",
      "/api/v1/nodes",
      "/api",
      "/apis",
      "/api/v1",
      "/apis/apps/v1",
    ])
      expect((await a("GET", path)).status, path).toBe(200);
    const event = await a("POST", `/api/v1/namespaces/${NS}/events`, {
      metadata: { name: "mine.1" },
      involvedObject: { kind: "Pod", namespace: NS, name: "mine" },
      reason: "Pulled",
      message: "pulled",
      type: "Normal",
    });
    expect(event.status).toBe(201);
    forbidden(
      await a("GET", "/apis/apps/v1/deployments"),
      `deployments.apps is forbidden: User "system:node:authz-a" cannot list resource "deployments" in API group "apps" at the cluster scope`,
    );
    expect(
      (await a("POST", `/api/v1/namespaces/${NS}/services`, { metadata: { name: "x" } })).status,
    ).toBe(403);
    expect((await a("DELETE", `/api/v1/namespaces/${NS}`)).status).toBe(403);
    // Its own kubeflare paths (the tunnel) are its; another node's are not.
    expect((await a("GET", "/kubeflare/v1/nodes/authz-a/tunnel")).status).not.toBe(403);
    forbidden(
      await a("GET", "/kubeflare/v1/nodes/authz-b/tunnel"),
      `forbidden: User "system:node:authz-a" cannot get path "/kubeflare/v1/nodes/authz-b/tunnel"`,
    );
    forbidden(
      await a("POST", "/debug/bench/d1"),
      `forbidden: User "system:node:authz-a" cannot post path "/debug/bench/d1"`,
    );
  });

  it("leaves the admin's access whole", async () => {
    const secrets = await call("GET", `/api/v1/namespaces/${NS}/secrets`);
    expect(secrets.body.items.map((x: any) => x.metadata.name)).toContain("unreferenced");
    expect((await call("GET", "/api/v1/pods")).status).toBe(200);
  });
});

describe("node registration", () => {
  it("registers its own Node with the allocated pod CIDR, whatever it asks for", async () => {
    const created = await a("POST", "/api/v1/nodes", {
      metadata: { name: "authz-a" },
      spec: { podCIDR: "10.99.0.0/24" },
      status: { capacity: { cpu: "2", memory: "1Gi", pods: "110" } },
    });
    expect(created.status).toBe(201);
    expect(created.body.spec.podCIDR).toBe(aCidr);
    expect(created.body.spec.podCIDRs).toEqual([aCidr]);
    const status = await a(
      "PATCH",
      "/api/v1/nodes/authz-a/status",
      { status: { conditions: [{ type: "Ready", status: "True" }] } },
      merge,
    );
    expect(status.status).toBe(200);
    expect(status.body.spec.podCIDR).toBe(aCidr);
    const relabel = await a(
      "PATCH",
      "/api/v1/nodes/authz-a",
      { metadata: { labels: { zone: "z" } } },
      merge,
    );
    expect(relabel.status).toBe(200);
    expect(relabel.body.spec.podCIDR).toBe(aCidr);
  });

  it("gets its CIDR on a Node the admin registered for it, through a status write", async () => {
    const { credential, podCIDR } = await joinNode("authz-pre");
    expect((await call("POST", "/api/v1/nodes", { metadata: { name: "authz-pre" } })).status).toBe(
      201,
    );
    const status = await asBearer(credential)(
      "PATCH",
      "/api/v1/nodes/authz-pre/status",
      { status: { capacity: { pods: "110" } } },
      merge,
    );
    expect(status.status).toBe(200);
    expect(status.body.spec.podCIDRs).toEqual([podCIDR]);
    expect((await call("DELETE", "/api/v1/nodes/authz-pre")).status).toBe(200);
  });

  it("keeps its hands off its taints and the node-restriction labels", async () => {
    const path = "/api/v1/nodes/authz-a";
    await call("PATCH", path, { spec: { taints: [{ key: "k", effect: "NoSchedule" }] } }, merge);
    forbidden(
      await a("PATCH", path, { spec: { taints: null } }, merge),
      `nodes "authz-a" is forbidden: node "authz-a" is not allowed to modify taints`,
    );
    forbidden(
      await a(
        "PATCH",
        path,
        { metadata: { labels: { "node-restriction.kubernetes.io/pool": "gpu" } } },
        merge,
      ),
      `nodes "authz-a" is forbidden: node "authz-a" is not allowed to modify labels: node-restriction.kubernetes.io/pool`,
    );
    // Status writes and other labels still go through with the taint in place.
    const ok = await a("PATCH", path, { metadata: { labels: { rack: "4" } } }, merge);
    expect(ok.status).toBe(200);
    expect(ok.body.spec.taints).toEqual([{ key: "k", effect: "NoSchedule" }]);
    expect(
      (await a("PATCH", `${path}/status`, { status: { phase: "Running" } }, merge)).status,
    ).toBe(200);
    expect((await call("PATCH", path, { spec: { taints: null } }, merge)).status).toBe(200);
  });

  it("may not create, change or delete another node", async () => {
    forbidden(
      await a("POST", "/api/v1/nodes", { metadata: { name: "authz-other" } }),
      `nodes "authz-other" is forbidden: node "authz-a" is not allowed to modify node "authz-other"`,
    );
    await call("POST", "/api/v1/nodes", { metadata: { name: "authz-other" } });
    forbidden(
      await a("PATCH", "/api/v1/nodes/authz-other/status", { status: {} }, merge),
      `nodes "authz-other" is forbidden: User "system:node:authz-a" cannot patch resource "nodes/status" in API group "" at the cluster scope`,
    );
    expect((await a("DELETE", "/api/v1/nodes/authz-other")).status).toBe(403);
    expect((await a("DELETE", "/api/v1/nodes/authz-a")).status).toBe(403);
    expect((await call("DELETE", "/api/v1/nodes/authz-other")).status).toBe(200);
  });

  it("creates and renews its own Lease in kube-node-lease only", async () => {
    const leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    const lease = (name: string) => ({
      metadata: { name },
      spec: { holderIdentity: name, leaseDurationSeconds: 40 },
    });
    expect((await a("POST", leases, lease("authz-a"))).status).toBe(201);
    const renewed = await a(
      "PATCH",
      `${leases}/authz-a`,
      { spec: { renewTime: new Date().toISOString().replace("Z", "000Z") } },
      merge,
    );
    expect(renewed.status).toBe(200);
    expect((await a("GET", `${leases}/authz-a`)).status).toBe(200);
    forbidden(
      await a("POST", leases, lease("authz-b")),
      `leases.coordination.k8s.io "authz-b" is forbidden: can only access node lease with the same name as the requesting node`,
    );
    expect((await a("GET", `${leases}/authz-b`)).status).toBe(403);
    expect((await a("GET", leases)).status).toBe(403);
    expect(
      (await a("POST", `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, lease("authz-a")))
        .status,
    ).toBe(403);
  });
});
