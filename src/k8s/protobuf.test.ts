// decodeProtobuf against bodies hand-encoded the way client-go's gogo marshallers write them:
// every non-pointer field present even when zero, pointers and slices only when set.
import { describe, expect, it } from "vitest";
import { decodeProtobuf } from "../api/protobuf/decode.ts";
import table from "../api/protobuf/fields.gen.json" with { type: "json" };
import { ApiError } from "./errors.ts";

type Bytes = number[];
const utf8 = new TextEncoder();

function varint(v: number | bigint): Bytes {
  let n = BigInt.asUintN(64, BigInt(v));
  const out: Bytes = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return out;
}
const key = (no: number, wire: number) => varint(no * 8 + wire);
const int = (no: number, v: number | bigint) => [...key(no, 0), ...varint(v)];
const bool = (no: number, v: boolean) => int(no, v ? 1 : 0);
const bytes = (no: number, b: ArrayLike<number>) => [
  ...key(no, 2),
  ...varint(b.length),
  ...Array.from(b),
];
const str = (no: number, s: string) => bytes(no, utf8.encode(s));
/** A message field; parts may be fields or single bytes. */
const msg = (no: number, ...parts: (number | Bytes)[]) => bytes(no, parts.flat());
const fixed32 = (no: number) => [...key(no, 5), 1, 2, 3, 4];
const fixed64 = (no: number) => [...key(no, 1), 1, 2, 3, 4, 5, 6, 7, 8];
/** map<string, string>: one entry message key(1) value(2) per key, sorted as gogo sorts them. */
const strMap = (no: number, m: Record<string, string>) =>
  Object.keys(m)
    .sort()
    .flatMap((k) => msg(no, str(1, k), str(2, m[k])));
/** map<string, Quantity>. */
const quantities = (no: number, m: Record<string, string>) =>
  Object.keys(m)
    .sort()
    .flatMap((k) => msg(no, str(1, k), msg(2, str(1, m[k]))));
const intOrString = (no: number, v: number | string) =>
  typeof v === "number"
    ? msg(no, int(1, 0), int(2, v), str(3, ""))
    : msg(no, int(1, 1), int(2, 0), str(3, v));

/** ObjectMeta as gogo writes it: all value fields, a zero creationTimestamp written empty. */
function objectMeta(
  name: string,
  opts: { namespace?: string; labels?: Record<string, string>; created?: number } = {},
): Bytes {
  return [
    ...str(1, name),
    ...str(2, ""),
    ...str(3, opts.namespace ?? ""),
    ...str(4, ""),
    ...str(5, ""),
    ...str(6, ""),
    ...int(7, 0),
    ...(opts.created === undefined ? msg(8) : msg(8, int(1, opts.created), int(2, 0))),
    ...strMap(11, opts.labels ?? {}),
  ];
}

/** "k8s\0" + runtime.Unknown{typeMeta, raw, contentEncoding, contentType}. */
function body(apiVersion: string, kind: string, ...fields: (number | Bytes)[]): Uint8Array {
  return Uint8Array.from([
    0x6b,
    0x38,
    0x73,
    0x00,
    ...msg(1, str(1, apiVersion), str(2, kind)),
    ...bytes(2, fields.flat()),
    ...str(3, ""),
    ...str(4, ""),
  ]);
}

function apiError(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error("expected an ApiError");
}

describe("decodeProtobuf", () => {
  it("decodes kubectl create namespace", () => {
    const b = body("v1", "Namespace", msg(1, ...objectMeta("x")), msg(2), msg(3, str(1, "")));
    expect(decodeProtobuf(b)).toEqual({
      apiVersion: "v1",
      kind: "Namespace",
      object: {
        kind: "Namespace",
        apiVersion: "v1",
        metadata: { name: "x", creationTimestamp: null },
        spec: {},
        status: {},
      },
    });
  });

  it("decodes kubectl create rolebinding: empty omitempty subject fields go", () => {
    const b = body(
      "rbac.authorization.k8s.io/v1",
      "RoleBinding",
      msg(1, ...objectMeta("rb", { namespace: "default" })),
      msg(2, str(1, "ServiceAccount"), str(2, ""), str(3, "robot"), str(4, "default")),
      msg(2, str(1, "User"), str(2, "rbac.authorization.k8s.io"), str(3, "alice"), str(4, "")),
      msg(3, str(1, "rbac.authorization.k8s.io"), str(2, "Role"), str(3, "pod-reader")),
    );
    expect(decodeProtobuf(b).object).toEqual({
      kind: "RoleBinding",
      apiVersion: "rbac.authorization.k8s.io/v1",
      metadata: { name: "rb", namespace: "default", creationTimestamp: null },
      subjects: [
        { kind: "ServiceAccount", name: "robot", namespace: "default" },
        { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "alice" },
      ],
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pod-reader" },
    });
  });

  it("decodes a Deployment with a container, ports, env, resources, probes and volumes", () => {
    const labels = { app: "web" };
    const container = [
      ...str(1, "nginx"),
      ...str(2, "nginx:1.27"),
      ...str(3, "nginx"),
      ...str(3, "-g"),
      ...str(4, "daemon off;"),
      ...str(5, ""),
      ...msg(6, str(1, "http"), int(2, 0), int(3, 80), str(4, "TCP"), str(5, "")),
      ...msg(6, str(1, ""), int(2, 0), int(3, 0), str(4, "UDP"), str(5, "")),
      ...msg(7, str(1, "MODE"), str(2, "prod")),
      ...msg(7, str(1, "EMPTY"), str(2, "")),
      // secretKeyRef: the LocalObjectReference (field 1) is inlined into the SecretKeySelector
      ...msg(7, str(1, "PASS"), str(2, ""), msg(3, msg(4, msg(1, str(1, "creds")), str(2, "pw")))),
      ...msg(
        8,
        ...quantities(1, { cpu: "500m", memory: "128Mi" }),
        ...quantities(2, { cpu: "250m" }),
      ),
      ...msg(9, str(1, "cache"), bool(2, false), str(3, "/cache"), str(4, "")),
      // readinessProbe: the ProbeHandler (field 1) is inlined into the Probe
      ...msg(
        11,
        msg(1, msg(2, str(1, "/healthz"), intOrString(2, "http"), str(3, ""), str(4, "HTTP"))),
        int(2, 5),
        int(3, 0),
        int(4, 10),
        int(5, 0),
        int(6, 0),
      ),
      ...msg(
        10,
        msg(1, msg(3, intOrString(1, 8080), str(2, ""))),
        int(2, 0),
        int(3, 1),
        int(4, 0),
        int(5, 0),
        int(6, 3),
      ),
      ...str(13, "/dev/termination-log"),
      ...str(14, "IfNotPresent"),
      ...bool(16, false),
      ...bool(17, false),
      ...bool(18, false),
      ...str(20, "File"),
    ];
    const podSpec = [
      // volumes: the VolumeSource (field 2) is inlined into the Volume
      ...msg(1, str(1, "cache"), msg(2, msg(2, str(1, "Memory"), msg(2, str(1, "64Mi"))))),
      ...msg(2, ...container),
      ...str(3, "Always"),
      ...int(4, 30),
      ...str(6, "ClusterFirst"),
      ...str(8, ""),
      ...str(9, ""),
      ...str(10, ""),
      ...bool(11, false),
      ...bool(12, false),
      ...bool(13, false),
      ...msg(14),
      ...str(16, ""),
      ...str(17, ""),
      ...str(19, "default-scheduler"),
      ...str(24, ""),
    ];
    const b = body(
      "apps/v1",
      "Deployment",
      msg(1, ...objectMeta("web", { namespace: "default", labels })),
      msg(
        2,
        int(1, 2),
        msg(2, ...strMap(1, labels)),
        msg(3, msg(1, ...objectMeta("", { labels })), msg(2, ...podSpec)),
        msg(4, str(1, "RollingUpdate"), msg(2, intOrString(1, 0), intOrString(2, "25%"))),
        int(5, 0),
        int(6, 10),
        bool(7, false),
        int(9, 600),
      ),
      msg(3, int(1, 0), int(2, 0), int(3, 0), int(4, 0), int(5, 0), int(7, 0)),
    );
    const { object } = decodeProtobuf(b);
    expect(object).toEqual({
      kind: "Deployment",
      apiVersion: "apps/v1",
      metadata: { name: "web", namespace: "default", labels, creationTimestamp: null },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels, creationTimestamp: null },
          spec: {
            volumes: [{ name: "cache", emptyDir: { medium: "Memory", sizeLimit: "64Mi" } }],
            containers: [
              {
                name: "nginx",
                image: "nginx:1.27",
                command: ["nginx", "-g"],
                args: ["daemon off;"],
                ports: [
                  { name: "http", containerPort: 80, protocol: "TCP" },
                  { containerPort: 0, protocol: "UDP" },
                ],
                env: [
                  { name: "MODE", value: "prod" },
                  { name: "EMPTY" },
                  { name: "PASS", valueFrom: { secretKeyRef: { name: "creds", key: "pw" } } },
                ],
                resources: {
                  limits: { cpu: "500m", memory: "128Mi" },
                  requests: { cpu: "250m" },
                },
                volumeMounts: [{ name: "cache", mountPath: "/cache" }],
                livenessProbe: {
                  tcpSocket: { port: 8080 },
                  timeoutSeconds: 1,
                  failureThreshold: 3,
                },
                readinessProbe: {
                  httpGet: { path: "/healthz", port: "http", scheme: "HTTP" },
                  initialDelaySeconds: 5,
                  periodSeconds: 10,
                },
                terminationMessagePath: "/dev/termination-log",
                terminationMessagePolicy: "File",
                imagePullPolicy: "IfNotPresent",
              },
            ],
            restartPolicy: "Always",
            terminationGracePeriodSeconds: 30,
            dnsPolicy: "ClusterFirst",
            securityContext: {},
            schedulerName: "default-scheduler",
          },
        },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
        revisionHistoryLimit: 10,
        progressDeadlineSeconds: 600,
      },
      status: {},
    });
  });

  it("decodes a Secret's binary data as base64 and keeps a pointer's zero", () => {
    const b = body(
      "v1",
      "Secret",
      msg(1, ...objectMeta("creds", { namespace: "default" })),
      msg(2, str(1, "bin"), bytes(2, [0, 1, 2, 0xfe, 0xff])),
      msg(2, str(1, "empty")),
      msg(2, str(1, "text"), bytes(2, utf8.encode("hello"))),
      str(3, "Opaque"),
      strMap(4, { plain: "p" }),
      bool(5, false),
    );
    expect(decodeProtobuf(b).object).toEqual({
      kind: "Secret",
      apiVersion: "v1",
      metadata: { name: "creds", namespace: "default", creationTimestamp: null },
      data: { bin: "AAEC/v8=", empty: "", text: "aGVsbG8=" },
      type: "Opaque",
      stringData: { plain: "p" },
      immutable: false,
    });
  });

  it("decodes a ConfigMap's data and binaryData", () => {
    const b = body(
      "v1",
      "ConfigMap",
      msg(1, ...objectMeta("cfg")),
      strMap(
        2,
        Object.fromEntries([
          ["a", "b"],
          ["__proto__", "x"],
        ]),
      ),
      msg(3, str(1, "blob"), bytes(2, [0xff, 0xd8, 0xff])),
    );
    const { object } = decodeProtobuf(b);
    expect(object).toEqual({
      kind: "ConfigMap",
      apiVersion: "v1",
      metadata: { name: "cfg", creationTimestamp: null },
      data: JSON.parse('{"__proto__":"x","a":"b"}'),
      binaryData: { blob: "/9j/" },
    });
    expect(Object.keys(object.data as object)).toEqual(["__proto__", "a"]);
    expect(Object.getPrototypeOf(object.data)).toBe(Object.prototype);
  });

  it("decodes a ClusterIP Service with an int targetPort", () => {
    const port = msg(
      1,
      str(1, "80-8080"),
      str(2, "TCP"),
      int(3, 80),
      intOrString(4, 8080),
      int(5, 0),
    );
    const b = body(
      "v1",
      "Service",
      msg(1, ...objectMeta("web", { labels: { app: "web" } })),
      msg(2, port, ...strMap(2, { app: "web" }), str(3, ""), str(4, "ClusterIP"), str(7, "")),
      msg(3, msg(1)),
    );
    expect(decodeProtobuf(b).object).toEqual({
      kind: "Service",
      apiVersion: "v1",
      metadata: { name: "web", labels: { app: "web" }, creationTimestamp: null },
      spec: {
        ports: [{ name: "80-8080", protocol: "TCP", port: 80, targetPort: 8080 }],
        selector: { app: "web" },
        type: "ClusterIP",
      },
      status: { loadBalancer: {} },
    });
  });

  it("decodes a drain's policy/v1 Eviction", () => {
    const b = body(
      "policy/v1",
      "Eviction",
      msg(1, ...objectMeta("web-1", { namespace: "default" })),
      msg(2, int(1, 0), str(5, "All")),
    );
    expect(decodeProtobuf(b)).toEqual({
      apiVersion: "policy/v1",
      kind: "Eviction",
      object: {
        kind: "Eviction",
        apiVersion: "policy/v1",
        metadata: { name: "web-1", namespace: "default", creationTimestamp: null },
        deleteOptions: { gracePeriodSeconds: 0, dryRun: ["All"] },
      },
    });
  });

  it("decodes DeleteOptions whatever group version sent them", () => {
    for (const apiVersion of ["v1", "apps/v1", "meta.k8s.io/v1"]) {
      const b = body(apiVersion, "DeleteOptions", int(1, 5), str(4, "Foreground"));
      expect(decodeProtobuf(b).object).toEqual({
        kind: "DeleteOptions",
        apiVersion,
        gracePeriodSeconds: 5,
        propagationPolicy: "Foreground",
      });
    }
  });

  it("formats Time to the second and MicroTime to the microsecond, zero times as null", () => {
    const lease = body(
      "coordination.k8s.io/v1",
      "Lease",
      msg(1, ...objectMeta("node-1", { namespace: "kube-node-lease", created: 1_700_000_000 })),
      msg(
        2,
        str(1, "node-1"),
        int(2, 40),
        msg(3, int(1, 1_700_000_000)),
        msg(4, int(1, 1_700_000_001), int(2, 123_456_789)),
        int(5, 0),
      ),
    );
    expect(decodeProtobuf(lease).object).toEqual({
      kind: "Lease",
      apiVersion: "coordination.k8s.io/v1",
      metadata: {
        name: "node-1",
        namespace: "kube-node-lease",
        creationTimestamp: "2023-11-14T22:13:20Z",
      },
      spec: {
        holderIdentity: "node-1",
        leaseDurationSeconds: 40,
        acquireTime: "2023-11-14T22:13:20.000000Z",
        renewTime: "2023-11-14T22:13:21.123456Z",
        leaseTransitions: 0,
      },
    });

    const event = body(
      "v1",
      "Event",
      msg(1, ...objectMeta("web.1")),
      msg(
        2,
        str(1, "Pod"),
        str(2, "default"),
        str(3, "web"),
        str(4, ""),
        str(5, "v1"),
        str(6, ""),
        str(7, ""),
      ),
      str(3, "Started"),
      str(4, ""),
      msg(5, str(1, "kubelet"), str(2, "")),
      msg(6, int(1, 0), int(2, 999)), // Unix epoch: not Go's zero time; protobuf Time drops nanos
      msg(7),
      int(8, 0),
      str(9, "Normal"),
      msg(10),
      str(12, ""),
      str(14, ""),
      str(15, ""),
    );
    expect(decodeProtobuf(event).object).toEqual({
      kind: "Event",
      apiVersion: "v1",
      metadata: { name: "web.1", creationTimestamp: null },
      involvedObject: { kind: "Pod", namespace: "default", name: "web", apiVersion: "v1" },
      reason: "Started",
      source: { component: "kubelet" },
      firstTimestamp: "1970-01-01T00:00:00Z",
      lastTimestamp: null,
      type: "Normal",
      eventTime: null,
      reportingComponent: "",
      reportingInstance: "",
    });
  });

  it("decodes negative and 64-bit integers, packed and unpacked repeated numbers", () => {
    const b = body(
      "v1",
      "Pod",
      msg(1, ...objectMeta("p")),
      msg(
        2,
        int(4, 2n ** 40n),
        int(25, -5), // a negative int32 takes ten bytes on the wire
        msg(14, int(2, -1), bytes(4, [...varint(1000), ...varint(2000)]), int(4, 3000), int(5, 0)),
        // fields unknown to this table (a newer client) are skipped, whatever their wire type
        int(999, 1),
        fixed32(998),
        fixed64(997),
        str(996, "future"),
      ),
    );
    expect(decodeProtobuf(b).object.spec).toEqual({
      terminationGracePeriodSeconds: 2 ** 40,
      priority: -5,
      securityContext: { runAsUser: -1, supplementalGroups: [1000, 2000, 3000], fsGroup: 0 },
    });
  });

  it("decodes an autoscaling/v1 Scale, with the omitempty zero dropped", () => {
    const b = body(
      "autoscaling/v1",
      "Scale",
      msg(1, ...objectMeta("web")),
      msg(2, int(1, 0)),
      msg(3, int(1, 2), str(2, "")),
    );
    expect(decodeProtobuf(b.buffer as ArrayBuffer).object).toEqual({
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: { name: "web", creationTimestamp: null },
      spec: {},
      status: { replicas: 2 },
    });
  });

  it("answers 400 for a malformed body and 415 for a kind without a table", () => {
    expect(apiError(() => decodeProtobuf(utf8.encode('{"kind":"Namespace"}'))).code).toBe(400);
    const ns = body("v1", "Namespace", msg(1, ...objectMeta("x")));
    expect(apiError(() => decodeProtobuf(ns.subarray(0, ns.length - 3))).code).toBe(400);
    const wrongWire = body("v1", "Namespace", int(1, 7));
    expect(apiError(() => decodeProtobuf(wrongWire)).code).toBe(400);
    const widget = body("example.com/v1", "Widget", msg(1, ...objectMeta("w")));
    expect(apiError(() => decodeProtobuf(widget)).code).toBe(415);
    const badIntOrString = body("v1", "Service", msg(2, msg(1, msg(4, int(1, 7)))));
    expect(apiError(() => decodeProtobuf(badIntOrString)).code).toBe(400);
  });
});

describe("fields.gen.json", () => {
  const messages = table as Record<string, Record<string, { name: string; kind: string }>>;

  it("resolves every message a field names", () => {
    for (const [name, fields] of Object.entries(messages))
      for (const f of Object.values(fields)) {
        const ref = /message:([\w.]+)/.exec(f.kind)?.[1];
        if (ref) expect(messages[ref], `${name}.${f.name}`).toBeDefined();
      }
  });

  it("holds every decodable kind", () => {
    for (const kind of [
      "Namespace",
      "ConfigMap",
      "Secret",
      "Service",
      "ServiceAccount",
      "Pod",
      "Endpoints",
      "Node",
      "Event",
      "PersistentVolumeClaim",
      "PersistentVolume",
    ])
      expect(messages[`k8s.io.api.core.v1.${kind}`], kind).toBeDefined();
    for (const name of [
      "apps.v1.Deployment",
      "apps.v1.ReplicaSet",
      "apps.v1.StatefulSet",
      "apps.v1.DaemonSet",
      "batch.v1.Job",
      "batch.v1.CronJob",
      "coordination.v1.Lease",
      "discovery.v1.EndpointSlice",
      "networking.v1.Ingress",
      "policy.v1.Eviction",
      "autoscaling.v1.Scale",
      "rbac.v1.Role",
      "rbac.v1.RoleBinding",
      "rbac.v1.ClusterRole",
      "rbac.v1.ClusterRoleBinding",
    ])
      expect(messages[`k8s.io.api.${name}`], name).toBeDefined();
    expect(messages["k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"]).toBeDefined();
  });
});
