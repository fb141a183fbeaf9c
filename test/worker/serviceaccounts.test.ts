// ServiceAccount tokens: TokenRequest, authentication with the token, bound tokens, and RBAC
// deciding what the account may do.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ISSUER, signingKey, verify } from "../../src/auth/service-account-token.ts";
import { call, eventually } from "./helpers.ts";
import { asBearer, joinNode } from "./nodes.ts";

const NS = "sa-tokens";
const SA = `/api/v1/namespaces/${NS}/serviceaccounts`;

const requestToken = (name: string, spec: Record<string, unknown> = {}) =>
  call("POST", `${SA}/${name}/token`, {
    apiVersion: "authentication.k8s.io/v1",
    kind: "TokenRequest",
    spec,
  });

async function tokenFor(name: string, spec: Record<string, unknown> = {}): Promise<string> {
  const res = await requestToken(name, spec);
  if (res.status !== 201) throw new Error(`token: ${JSON.stringify(res.body)}`);
  return res.body.status.token;
}

const claimsOf = (token: string) =>
  JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));

const uidOf = async (path: string) => (await call("GET", path)).body.metadata.uid as string;

const podsPath = `/api/v1/namespaces/${NS}/pods`;
const pod = (name: string, serviceAccountName: string, nodeName?: string) => ({
  metadata: { name },
  spec: {
    serviceAccountName,
    ...(nodeName ? { nodeName } : {}),
    containers: [{ name: "c", image: "busybox" }],
  },
});

beforeAll(async () => {
  await call("POST", "/api/v1/namespaces", { metadata: { name: NS } });
  for (const name of ["robot", "other"])
    expect((await call("POST", SA, { metadata: { name } })).status).toBe(201);
});

describe("TokenRequest", () => {
  it("signs a token for the account, for the API's audience, for an hour by default", async () => {
    const res = await requestToken("robot");
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      kind: "TokenRequest",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { name: "robot", namespace: NS },
      spec: { audiences: [ISSUER], expirationSeconds: 3600, boundObjectRef: null },
    });
    const claims = claimsOf(res.body.status.token);
    expect(claims).toMatchObject({
      iss: ISSUER,
      sub: `system:serviceaccount:${NS}:robot`,
      aud: [ISSUER],
      "kubernetes.io": {
        namespace: NS,
        serviceaccount: { name: "robot", uid: await uidOf(`${SA}/robot`) },
      },
    });
    expect(claims.exp - claims.iat).toBe(3600);
    expect(Date.parse(res.body.status.expirationTimestamp) / 1000).toBe(claims.exp);
  });

  it("refuses bad requests with a Status that says why", async () => {
    const short = await requestToken("robot", { expirationSeconds: 599 });
    expect(short.status).toBe(422);
    expect(short.body.message).toBe(
      'TokenRequest.authentication.k8s.io "robot" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes',
    );
    const missing = await requestToken("nobody");
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('serviceaccounts "nobody" not found');
    const configMap = await requestToken("robot", {
      boundObjectRef: { kind: "ConfigMap", apiVersion: "v1", name: "x" },
    });
    expect(configMap.status).toBe(400);
    expect(configMap.body.message).toBe(
      'cannot bind token for serviceaccount "robot" to object of type v1, Kind=ConfigMap',
    );
    await call("POST", podsPath, pod("runs-as-other", "other"));
    const wrongAccount = await requestToken("robot", {
      boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "runs-as-other" },
    });
    expect(wrongAccount.status).toBe(400);
    expect(wrongAccount.body.message).toBe(
      'cannot bind token for serviceaccount "robot" to pod running with different serviceaccount name.',
    );
    const staleUid = await requestToken("other", {
      boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "runs-as-other", uid: "not-it" },
    });
    expect(staleUid.status).toBe(409);
  });
});

describe("authenticating with a ServiceAccount token", () => {
  it("names the account, which may do nothing it was not granted", async () => {
    const as = asBearer(await tokenFor("robot"));
    const res = await as("GET", podsPath);
    expect(res.status).toBe(403);
    expect(res.body.message).toBe(
      `pods is forbidden: User "system:serviceaccount:${NS}:robot" cannot list resource "pods" in API group "" in the namespace "${NS}"`,
    );
    const path = await as("GET", "/kubeflare/v1/whatever");
    expect(path.status).toBe(403);
    expect(path.body.message).toBe(
      `forbidden: User "system:serviceaccount:${NS}:robot" cannot get path "/kubeflare/v1/whatever"`,
    );
  });

  it("rejects a token whose signature, audience or lifetime is wrong", async () => {
    const token = await tokenFor("robot");
    const [h, p, sig] = token.split(".");
    const flipped = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith("AA") ? "BB" : "AA"}`;
    expect((await asBearer(flipped)("GET", "/api")).status).toBe(401);
    const other = await tokenFor("robot", { audiences: ["vault"] });
    expect((await asBearer(other)("GET", "/api")).status).toBe(401);
    const key = await signingKey(env.SERVICE_ACCOUNT_KEY);
    if (!key) throw new Error("no signing key in the test bindings");
    const now = Date.now() / 1000;
    expect(await verify(key, token, now + 3599)).toBeDefined();
    expect(await verify(key, token, now + 3700)).toBeUndefined();
  });

  it("stops authenticating when the account is deleted and made again", async () => {
    await call("POST", SA, { metadata: { name: "shortlived" } });
    const token = await tokenFor("shortlived");
    const as = asBearer(token);
    expect((await as("GET", podsPath)).status).toBe(403);
    await call("DELETE", `${SA}/shortlived`);
    expect((await as("GET", podsPath)).status).toBe(401);
    await call("POST", SA, { metadata: { name: "shortlived" } });
    expect((await as("GET", podsPath)).status).toBe(401);
  });

  it("binds a token to a pod: it stops working when the pod is gone", async () => {
    await call("POST", podsPath, pod("bound", "robot"));
    const uid = await uidOf(`${podsPath}/bound`);
    const token = await tokenFor("robot", {
      boundObjectRef: { kind: "Pod", apiVersion: "v1", name: "bound", uid },
    });
    expect(claimsOf(token)["kubernetes.io"].pod).toEqual({ name: "bound", uid });
    const as = asBearer(token);
    expect((await as("GET", podsPath)).status).toBe(403);
    await call("DELETE", `${podsPath}/bound`, { gracePeriodSeconds: 0 });
    expect((await as("GET", podsPath)).status).toBe(401);
  });
});

describe("a node's token requests", () => {
  it("gets tokens only for pods bound to it, bound to that pod", async () => {
    const node = asBearer((await joinNode("sa-node")).credential);
    await call("POST", podsPath, pod("on-node", "robot", "sa-node"));
    await call("POST", podsPath, pod("elsewhere", "other", "another-node"));
    const uid = await uidOf(`${podsPath}/on-node`);
    const ask = (name: string, podName?: string) =>
      node("POST", `${SA}/${name}/token`, {
        spec: podName ? { boundObjectRef: { kind: "Pod", apiVersion: "v1", name: podName } } : {},
      });
    const ok = await ask("robot", "on-node");
    expect(ok.status).toBe(201);
    expect(claimsOf(ok.body.status.token)["kubernetes.io"].pod).toEqual({ name: "on-node", uid });
    const unbound = await ask("robot");
    expect(unbound.status).toBe(403);
    expect(unbound.body.message).toBe(
      'serviceaccounts "robot" is forbidden: node requested token not bound to a pod',
    );
    const notUsedHere = await ask("other", "elsewhere");
    expect(notUsedHere.status).toBe(403);
    expect(notUsedHere.body.message).toContain("no relationship found between node 'sa-node'");
  });
});

describe("ServiceAccount admission", () => {
  const created = async (name: string, spec: Record<string, unknown>) => {
    const res = await call("POST", podsPath, { metadata: { name }, spec });
    expect(res.status).toBe(201);
    return res.body;
  };
  const c = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    image: "busybox",
    ...extra,
  });

  it("projects the account's token and the namespace into every container", async () => {
    const p = await created("mounted", {
      initContainers: [c("init")],
      containers: [c("a"), c("b")],
    });
    expect(p.spec.serviceAccountName).toBe("default");
    const volume = p.spec.volumes.find((v: any) => v.name.startsWith("kube-api-access-"));
    expect(volume.name).toMatch(/^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(volume.projected).toEqual({
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
        {
          downwardAPI: {
            items: [
              {
                path: "namespace",
                fieldRef: { apiVersion: "v1", fieldPath: "metadata.namespace" },
              },
            ],
          },
        },
      ],
    });
    for (const ctr of [...p.spec.initContainers, ...p.spec.containers])
      expect(ctr.volumeMounts).toEqual([
        {
          name: volume.name,
          readOnly: true,
          mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
        },
      ]);
  });

  it("leaves pods alone that opt out, whose account opts out, or that mount the path", async () => {
    const none = await created("opted-out", {
      automountServiceAccountToken: false,
      containers: [c("a")],
    });
    expect(none.spec.volumes).toBeUndefined();
    await call("POST", SA, { metadata: { name: "quiet" }, automountServiceAccountToken: false });
    const quiet = await created("quiet-account", {
      serviceAccountName: "quiet",
      containers: [c("a")],
    });
    expect(quiet.spec.volumes).toBeUndefined();
    // The pod's own setting wins over its account's.
    const loud = await created("loud-pod", {
      serviceAccountName: "quiet",
      automountServiceAccountToken: true,
      containers: [c("a")],
    });
    expect(loud.spec.volumes).toHaveLength(1);
    const own = await created("own-mount", {
      volumes: [{ name: "mine", emptyDir: {} }],
      containers: [
        c("a", {
          volumeMounts: [
            { name: "mine", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" },
          ],
        }),
        c("b"),
      ],
    });
    expect(own.spec.volumes.map((v: any) => v.name)).toEqual([
      "mine",
      expect.stringMatching(/^kube-api-access-/),
    ]);
    expect(own.spec.containers[0].volumeMounts).toHaveLength(1);
    expect(own.spec.containers[1].volumeMounts).toHaveLength(1);
  });

  it("refuses a pod whose account does not exist, and admits it once the account does", async () => {
    const spec = { serviceAccountName: "ghost", containers: [c("a")] };
    const res = await call("POST", podsPath, { metadata: { name: "haunted" }, spec });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({
      kind: "Status",
      reason: "Forbidden",
      message:
        'pods "haunted" is forbidden: error looking up service account sa-tokens/ghost: serviceaccount "ghost" not found',
      details: { name: "haunted", kind: "pods" },
    });
    expect((await call("GET", `${podsPath}/haunted`)).status).toBe(404);
    expect((await call("POST", SA, { metadata: { name: "ghost" } })).status).toBe(201);
    const p = await created("haunted", spec);
    expect(p.spec.serviceAccountName).toBe("ghost");
  });
});

describe("default ServiceAccounts", () => {
  const account = (ns: string) => call("GET", `/api/v1/namespaces/${ns}/serviceaccounts/default`);

  it("every namespace gets one, and gets it back when it is deleted", async () => {
    await call("POST", "/api/v1/namespaces", { metadata: { name: "sa-defaults" } });
    const first = await eventually(async () => {
      const r = await account("sa-defaults");
      return r.status === 200 && r.body;
    });
    expect((await account("kube-system")).status).toBe(200);
    await call("DELETE", "/api/v1/namespaces/sa-defaults/serviceaccounts/default");
    const again = await eventually(async () => {
      const r = await account("sa-defaults");
      return r.status === 200 && r.body;
    });
    expect(again.metadata.uid).not.toBe(first.metadata.uid);
  });
});

describe("legacy token Secrets", () => {
  const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
  const tokenSecret = (name: string, account: string) => ({
    metadata: { name, annotations: { "kubernetes.io/service-account.name": account } },
    type: "kubernetes.io/service-account-token",
  });
  const whoami = async (token: string) => {
    const res = await asBearer(token)(
      "POST",
      "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      {},
    );
    return res.status === 201 ? res.body.status.userInfo.username : res.status;
  };

  it("fills a service-account-token Secret with a token that lasts while the Secret does", async () => {
    await call("POST", SA, { metadata: { name: "old-school" } });
    const created = await call("POST", SECRETS, tokenSecret("old-school-token", "old-school"));
    expect(created.status).toBe(201);
    const uid = await uidOf(`${SA}/old-school`);
    expect(created.body.metadata.annotations["kubernetes.io/service-account.uid"]).toBe(uid);
    expect(atob(created.body.data.namespace)).toBe(NS);
    const token = atob(created.body.data.token);
    expect(claimsOf(token)).toMatchObject({
      iss: "kubernetes/serviceaccount",
      sub: `system:serviceaccount:${NS}:old-school`,
      "kubernetes.io/serviceaccount/secret.name": "old-school-token",
      "kubernetes.io/serviceaccount/service-account.uid": uid,
    });
    expect(claimsOf(token).exp).toBeUndefined();
    expect(await whoami(token)).toBe(`system:serviceaccount:${NS}:old-school`);
    // Deleting the Secret revokes the token.
    await call("DELETE", `${SECRETS}/old-school-token`);
    expect(await whoami(token)).toBe(401);
  });

  it("stops working with its account, and stays empty for an account that does not exist", async () => {
    await call("POST", SA, { metadata: { name: "doomed" } });
    const created = await call("POST", SECRETS, tokenSecret("doomed-token", "doomed"));
    const token = atob(created.body.data.token);
    expect(await whoami(token)).toBe(`system:serviceaccount:${NS}:doomed`);
    await call("DELETE", `${SA}/doomed`);
    expect(await whoami(token)).toBe(401);
    const orphan = await call("POST", SECRETS, tokenSecret("orphan-token", "nobody"));
    expect(orphan.status).toBe(201);
    expect(orphan.body.data?.token).toBeUndefined();
  });
});
