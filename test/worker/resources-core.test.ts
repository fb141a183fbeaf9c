import { describe, expect, it } from "vitest";
import { call } from "./helpers.ts";

/** Controllers write these objects too: writes here name no resourceVersion (never stale). */
const putUnpinned = (path: string, body: any) =>
  call("PUT", path, { ...body, metadata: { ...body.metadata, resourceVersion: undefined } });

const TABLE = { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" };
const NS = "/api/v1/namespaces/default";

const pod = (
  name: string,
  containers: object[] = [{ name: "web", image: "nginx" }],
  spec = {},
) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name },
  spec: { containers, ...spec },
});

describe("pods", () => {
  it("get Kubernetes' defaults and start Pending", async () => {
    const res = await call(
      "POST",
      `${NS}/pods`,
      pod("p-defaults", [
        { name: "web", image: "nginx", ports: [{ containerPort: 80 }] },
        { name: "side", image: "busybox:1.36" },
      ]),
    );
    expect(res.status).toBe(201);
    const { spec, status, metadata } = res.body;
    expect(metadata.generation).toBe(1);
    expect(spec).toMatchObject({
      restartPolicy: "Always",
      dnsPolicy: "ClusterFirst",
      schedulerName: "default-scheduler",
      terminationGracePeriodSeconds: 30,
      securityContext: {},
      enableServiceLinks: true,
      serviceAccountName: "default",
      serviceAccount: "default",
    });
    expect(spec.containers[0]).toMatchObject({
      imagePullPolicy: "Always",
      terminationMessagePath: "/dev/termination-log",
      terminationMessagePolicy: "File",
      ports: [{ containerPort: 80, protocol: "TCP" }],
      resources: {},
    });
    expect(spec.containers[1].imagePullPolicy).toBe("IfNotPresent");
    // DefaultTolerationSeconds admission, with DEFAULT_TOLERATION_SECONDS (2 in these tests).
    expect(spec.tolerations).toEqual([
      {
        key: "node.kubernetes.io/not-ready",
        operator: "Exists",
        effect: "NoExecute",
        tolerationSeconds: 2,
      },
      {
        key: "node.kubernetes.io/unreachable",
        operator: "Exists",
        effect: "NoExecute",
        tolerationSeconds: 2,
      },
    ]);
    expect(status).toEqual({ phase: "Pending", qosClass: "BestEffort" });
  });

  it("keep their own not-ready/unreachable tolerations instead of the defaults", async () => {
    const own = {
      key: "node.kubernetes.io/unreachable",
      operator: "Exists",
      effect: "NoExecute",
      tolerationSeconds: 6000,
    };
    const one = await call(
      "POST",
      `${NS}/pods`,
      pod("p-tol-own", undefined, { tolerations: [own] }),
    );
    expect(one.body.spec.tolerations).toEqual([
      own,
      {
        key: "node.kubernetes.io/not-ready",
        operator: "Exists",
        effect: "NoExecute",
        tolerationSeconds: 2,
      },
    ]);
    // A toleration without key and effect tolerates every taint: nothing to add.
    const all = await call(
      "POST",
      `${NS}/pods`,
      pod("p-tol-all", undefined, { tolerations: [{ operator: "Exists" }] }),
    );
    expect(all.body.spec.tolerations).toEqual([{ operator: "Exists" }]);
    // An update that drops nothing keeps them (the admission runs on updates too).
    const updated = await call(
      "PATCH",
      `${NS}/pods/p-tol-own`,
      { metadata: { labels: { touched: "yes" } } },
      { "content-type": "application/merge-patch+json" },
    );
    expect(updated.status).toBe(200);
    expect(updated.body.spec.tolerations).toEqual(one.body.spec.tolerations);
  });

  it("compute the QoS class, defaulting requests from limits", async () => {
    const limits = { cpu: "500m", memory: "128Mi" };
    const res = await call(
      "POST",
      `${NS}/pods`,
      pod("p-qos", [{ name: "c", image: "nginx:1", resources: { limits } }]),
    );
    expect(res.body.spec.containers[0].resources).toEqual({ limits, requests: limits });
    expect(res.body.status.qosClass).toBe("Guaranteed");
    const burst = await call(
      "POST",
      `${NS}/pods`,
      pod("p-burst", [{ name: "c", image: "nginx:1", resources: { requests: { cpu: "1000m" } } }]),
    );
    expect(burst.body.spec.containers[0].resources.requests.cpu).toBe("1");
    expect(burst.body.status.qosClass).toBe("Burstable");
  });

  it("refuse duplicate container names with Kubernetes' message and store nothing", async () => {
    const res = await call(
      "POST",
      `${NS}/pods`,
      pod("p-dup", [
        { name: "web", image: "nginx" },
        { name: "web", image: "redis" },
      ]),
    );
    expect(res.status).toBe(422);
    expect(res.body.reason).toBe("Invalid");
    expect(res.body.message).toBe(
      'Pod "p-dup" is invalid: spec.containers[1].name: Duplicate value: "web"',
    );
    expect(res.body.details.causes).toEqual([
      {
        reason: "FieldValueDuplicate",
        message: 'Duplicate value: "web"',
        field: "spec.containers[1].name",
      },
    ]);
    expect((await call("GET", `${NS}/pods/p-dup`)).status).toBe(404);
  });

  it("validate containers, ports, policies and resources", async () => {
    const res = await call(
      "POST",
      `${NS}/pods`,
      pod(
        "p-bad",
        [
          {
            name: "Web",
            image: "",
            ports: [
              { containerPort: 70000, name: "http" },
              { containerPort: 81, name: "http" },
            ],
          },
          {
            name: "c",
            image: "nginx",
            env: [{ name: "A=B", value: "x" }],
            resources: { requests: { cpu: "2" }, limits: { cpu: "1" } },
          },
        ],
        {
          restartPolicy: "Sometimes",
          volumes: [
            { name: "v", emptyDir: {} },
            { name: "v", emptyDir: {} },
          ],
        },
      ),
    );
    expect(res.status).toBe(422);
    const fields = res.body.details.causes.map((c: { field: string }) => c.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        "spec.containers[0].name",
        "spec.containers[0].image",
        "spec.containers[0].ports[0].containerPort",
        "spec.containers[0].ports[1].name",
        "spec.containers[1].env[0].name",
        "spec.containers[1].resources.requests",
        "spec.restartPolicy",
        "spec.volumes[1].name",
      ]),
    );
    expect(res.body.message).toContain(
      "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    );
    expect(res.body.message).toContain(
      'spec.containers[1].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
    );
    expect(res.body.message).toContain(
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    );
    const none = await call("POST", `${NS}/pods`, pod("p-none", []));
    expect(none.body.message).toBe('Pod "p-none" is invalid: spec.containers: Required value');
  });

  it("allow image changes but no other spec change", async () => {
    await call(
      "POST",
      `${NS}/pods`,
      pod("p-upd", [{ name: "c", image: "busybox:1.36", command: ["sleep", "10"] }]),
    );
    // The scheduler writes this pod's status meanwhile: these writes name no resourceVersion.
    const cur = (await call("GET", `${NS}/pods/p-upd`)).body;
    delete cur.metadata.resourceVersion;
    const changed = structuredClone(cur);
    changed.spec.containers[0].command = ["sleep", "20"];
    const refused = await putUnpinned(`${NS}/pods/p-upd`, changed);
    expect(refused.status).toBe(422);
    expect(refused.body.message).toContain(
      'Pod "p-upd" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
    );
    expect(refused.body.message).toContain("containers[0].command");
    const image = structuredClone(cur);
    image.spec.containers[0].image = "busybox:1.37";
    image.metadata.labels = { tier: "x" };
    const ok = await putUnpinned(`${NS}/pods/p-upd`, image);
    expect(ok.status).toBe(200);
    expect(ok.body.spec.containers[0].image).toBe("busybox:1.37");
    expect(ok.body.metadata.generation).toBe(2);
    expect(ok.body.status.phase).toBe("Pending");
    const added = structuredClone(ok.body);
    delete added.metadata.resourceVersion;
    added.spec.containers.push({ name: "d", image: "nginx" });
    const more = await putUnpinned(`${NS}/pods/p-upd`, added);
    expect(more.body.message).toBe(
      'Pod "p-upd" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers',
    );
  });

  it("print as kubectl does and select on spec.nodeName", async () => {
    await call(
      "POST",
      `${NS}/pods`,
      pod("p-table", [{ name: "c", image: "nginx" }], { nodeName: "node-a" }),
    );
    const res = await call(
      "GET",
      `${NS}/pods?fieldSelector=spec.nodeName=node-a`,
      undefined,
      TABLE,
    );
    expect(res.status).toBe(200);
    expect(res.body.kind).toBe("Table");
    expect(res.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Ready",
      "Status",
      "Restarts",
      "Age",
      "IP",
      "Node",
      "Nominated Node",
      "Readiness Gates",
    ]);
    expect(res.body.rows).toHaveLength(1);
    expect(res.body.rows[0].cells.slice(0, 4)).toEqual(["p-table", "0/1", "Pending", "0"]);
    expect(res.body.rows[0].cells.slice(5)).toEqual(["<none>", "node-a", "<none>", "<none>"]);
  });

  it("show container states in STATUS and READY", async () => {
    await call(
      "POST",
      `${NS}/pods`,
      pod(
        "p-status",
        [
          { name: "a", image: "nginx" },
          { name: "b", image: "nginx" },
        ],
        {
          initContainers: [{ name: "init", image: "busybox" }],
        },
      ),
    );
    // The scheduler writes this pod's status too: read-modify-write until ours lands.
    const put = async (status: object) => {
      for (;;) {
        const cur = (await call("GET", `${NS}/pods/p-status`)).body;
        const r = await call("PUT", `${NS}/pods/p-status/status`, {
          ...cur,
          status: { ...cur.status, ...status },
        });
        if (r.status !== 409) return r;
      }
    };
    const row = async () =>
      (await call("GET", `${NS}/pods/p-status`, undefined, TABLE)).body.rows[0].cells;
    await put({
      initContainerStatuses: [
        { name: "init", ready: false, restartCount: 0, state: { running: {} } },
      ],
    });
    expect((await row()).slice(1, 3)).toEqual(["0/2", "Init:0/1"]);
    await put({
      phase: "Running",
      conditions: [{ type: "Initialized", status: "True" }],
      initContainerStatuses: [
        {
          name: "init",
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0, reason: "Completed" } },
        },
      ],
      containerStatuses: [
        { name: "a", ready: true, restartCount: 0, state: { running: {} } },
        {
          name: "b",
          ready: false,
          restartCount: 2,
          state: { waiting: { reason: "CrashLoopBackOff" } },
        },
      ],
    });
    expect((await row()).slice(1, 4)).toEqual(["1/2", "CrashLoopBackOff", "2"]);
  });
});

describe("services", () => {
  const svc = (name: string, spec: object) => ({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name },
    spec,
  });

  it("get defaults and a ClusterIP that cannot change", async () => {
    const res = await call(
      "POST",
      `${NS}/services`,
      svc("s-web", { selector: { app: "web" }, ports: [{ port: 80 }] }),
    );
    expect(res.status).toBe(201);
    const { spec, status } = res.body;
    expect(spec).toMatchObject({
      type: "ClusterIP",
      sessionAffinity: "None",
      ports: [{ port: 80, protocol: "TCP", targetPort: 80 }],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
      internalTrafficPolicy: "Cluster",
    });
    expect(spec.externalTrafficPolicy).toBeUndefined();
    expect(spec.clusterIP).toMatch(/^10\.43\.\d+\.\d+$/);
    expect(spec.clusterIPs).toEqual([spec.clusterIP]);
    expect(status).toEqual({ loadBalancer: {} });
    // A replacement that leaves clusterIP out keeps the allocated one.
    const { clusterIP: _ip, clusterIPs: _ips, ...rest } = spec;
    const kept = await putUnpinned(`${NS}/services/s-web`, {
      ...res.body,
      spec: { ...rest, selector: { app: "web2" } },
    });
    expect(kept.status).toBe(200);
    expect(kept.body.spec.clusterIP).toBe(spec.clusterIP);
    const moved = await putUnpinned(`${NS}/services/s-web`, {
      ...kept.body,
      spec: { ...kept.body.spec, clusterIP: "10.43.200.200" },
    });
    expect(moved.status).toBe(422);
    expect(moved.body.message).toBe(
      'Service "s-web" is invalid: spec.clusterIPs[0]: Invalid value: ["10.43.200.200"]: may not change once set',
    );
  });

  it("validate ports, names and types", async () => {
    const two = await call(
      "POST",
      `${NS}/services`,
      svc("s-two", { ports: [{ port: 80 }, { port: 443 }] }),
    );
    expect(two.status).toBe(422);
    expect(two.body.message).toBe(
      'Service "s-two" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]',
    );
    const none = await call("POST", `${NS}/services`, svc("s-none", {}));
    expect(none.body.message).toBe('Service "s-none" is invalid: spec.ports: Required value');
    const headless = await call(
      "POST",
      `${NS}/services`,
      svc("s-headless", { clusterIP: "None", selector: { a: "b" } }),
    );
    expect(headless.status).toBe(201);
    expect(headless.body.spec.clusterIPs).toEqual(["None"]);
    const bad = await call(
      "POST",
      `${NS}/services`,
      svc("s-bad", { type: "Weird", ports: [{ port: 0 }] }),
    );
    expect(bad.body.message).toContain(
      "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
    );
    expect(bad.body.message).toContain(
      'spec.type: Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
    );
    const name = await call("POST", `${NS}/services`, svc("1abc", { ports: [{ port: 80 }] }));
    expect(name.body.message).toContain('metadata.name: Invalid value: "1abc": a DNS-1035 label');
  });

  it("print NodePort services as kubectl does", async () => {
    const res = await call(
      "POST",
      `${NS}/services`,
      svc("s-np", {
        type: "NodePort",
        selector: { b: "2", a: "1" },
        ports: [{ port: 80, nodePort: 30080 }],
      }),
    );
    expect(res.status).toBe(201);
    expect(res.body.spec.externalTrafficPolicy).toBe("Cluster");
    const table = await call("GET", `${NS}/services/s-np`, undefined, TABLE);
    expect(table.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Type",
      "Cluster-IP",
      "External-IP",
      "Port(s)",
      "Age",
      "Selector",
    ]);
    const cells = table.body.rows[0].cells;
    expect([cells[0], cells[1], cells[3], cells[4], cells[6]]).toEqual([
      "s-np",
      "NodePort",
      "<none>",
      "80:30080/TCP",
      "a=1,b=2",
    ]);
    expect(cells[2]).toBe(res.body.spec.clusterIP);
  });
});

describe("secrets", () => {
  const secret = (name: string, extra: object) => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name },
    ...extra,
  });

  it("turn stringData into base64 data", async () => {
    const res = await call(
      "POST",
      `${NS}/secrets`,
      secret("sec-1", { data: { a: "YQ==" }, stringData: { b: "héllo", a: "z" } }),
    );
    expect(res.status).toBe(201);
    expect(res.body.type).toBe("Opaque");
    expect(res.body.data).toEqual({ a: "eg==", b: "aMOpbGxv" });
    expect(res.body.stringData).toBeUndefined();
    const listed = await call("GET", `${NS}/secrets?fieldSelector=type=Opaque`, undefined, TABLE);
    const row = listed.body.rows.find((r: { cells: unknown[] }) => r.cells[0] === "sec-1");
    expect(row.cells.slice(0, 3)).toEqual(["sec-1", "Opaque", 2]);
  });

  it("refuse bad keys, bad base64 and changes to immutable secrets", async () => {
    const key = await call("POST", `${NS}/secrets`, secret("sec-key", { data: { "a b": "eA==" } }));
    expect(key.status).toBe(422);
    expect(key.body.message).toContain(
      'data[a b]: Invalid value: "a b": a valid config key must consist of',
    );
    const b64 = await call(
      "POST",
      `${NS}/secrets`,
      secret("sec-b64", { data: { a: "not base64!" } }),
    );
    expect(b64.status).toBe(400);
    const tls = await call(
      "POST",
      `${NS}/secrets`,
      secret("sec-tls", { type: "kubernetes.io/tls", data: {} }),
    );
    expect(tls.body.message).toBe(
      'Secret "sec-tls" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]',
    );
    const made = await call(
      "POST",
      `${NS}/secrets`,
      secret("sec-imm", { immutable: true, data: { a: "YQ==" } }),
    );
    expect(made.status).toBe(201);
    const changed = await putUnpinned(`${NS}/secrets/sec-imm`, {
      ...made.body,
      data: { a: "Yg==" },
    });
    expect(changed.status).toBe(422);
    expect(changed.body.message).toBe(
      'Secret "sec-imm" is invalid: data: Forbidden: field is immutable when `immutable` is set',
    );
    const retyped = await putUnpinned(`${NS}/secrets/sec-imm`, { ...made.body, type: "Other" });
    expect(retyped.body.message).toBe(
      'Secret "sec-imm" is invalid: type: Invalid value: "Other": field is immutable',
    );
    const labelled = await putUnpinned(`${NS}/secrets/sec-imm`, {
      ...made.body,
      metadata: { ...made.body.metadata, labels: { a: "b" } },
    });
    expect(labelled.status).toBe(200);
  });
});

describe("namespaces, nodes, events, volumes", () => {
  it("namespaces are Active with the kubernetes finalizer and their name label", async () => {
    const res = await call("POST", "/api/v1/namespaces", { metadata: { name: "ns-core" } });
    expect(res.status).toBe(201);
    expect(res.body.spec).toEqual({ finalizers: ["kubernetes"] });
    expect(res.body.status).toEqual({ phase: "Active" });
    expect(res.body.metadata.labels).toEqual({ "kubernetes.io/metadata.name": "ns-core" });
    const bad = await call("POST", "/api/v1/namespaces", { metadata: { name: "a.b" } });
    expect(bad.body.message).toBe(
      'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": must not contain dots',
    );
    const table = await call(
      "GET",
      "/api/v1/namespaces?fieldSelector=status.phase=Active",
      undefined,
      TABLE,
    );
    expect(table.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Status",
      "Age",
    ]);
    const row = table.body.rows.find((r: { cells: unknown[] }) => r.cells[0] === "ns-core");
    expect(row.cells[1]).toBe("Active");
  });

  it("nodes keep their status, show readiness and roles, and keep their podCIDR", async () => {
    const node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "n-1", labels: { "node-role.kubernetes.io/worker": "" } },
      spec: { podCIDR: "10.42.1.0/24" },
      status: {
        capacity: { cpu: "2", memory: "2048Mi" },
        conditions: [{ type: "Ready", status: "True" }],
        addresses: [{ type: "InternalIP", address: "192.168.1.10" }],
        nodeInfo: {
          kubeletVersion: "v1.34.0",
          osImage: "Debian",
          kernelVersion: "6.1",
          containerRuntimeVersion: "containerd://2.0",
        },
      },
    };
    const res = await call("POST", "/api/v1/nodes", node);
    expect(res.status).toBe(201);
    expect(res.body.spec.podCIDRs).toEqual(["10.42.1.0/24"]);
    expect(res.body.status.allocatable).toEqual({ cpu: "2", memory: "2Gi" });
    const cordoned = await putUnpinned("/api/v1/nodes/n-1", {
      ...res.body,
      spec: { ...res.body.spec, unschedulable: true },
      status: {},
    });
    expect(cordoned.status).toBe(200);
    expect(cordoned.body.status.conditions).toHaveLength(1);
    const table = await call(
      "GET",
      "/api/v1/nodes?fieldSelector=spec.unschedulable=true",
      undefined,
      TABLE,
    );
    expect(table.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Status",
      "Roles",
      "Age",
      "Version",
      "Internal-IP",
      "External-IP",
      "OS-Image",
      "Kernel-Version",
      "Container-Runtime",
    ]);
    const cells = table.body.rows[0].cells;
    expect([cells[0], cells[1], cells[2], cells[4], cells[5], cells[6], cells[9]]).toEqual([
      "n-1",
      "Ready,SchedulingDisabled",
      "worker",
      "v1.34.0",
      "192.168.1.10",
      "<none>",
      "containerd://2.0",
    ]);
    const moved = await putUnpinned("/api/v1/nodes/n-1", {
      ...cordoned.body,
      spec: { podCIDR: "10.42.9.0/24", podCIDRs: ["10.42.9.0/24"] },
    });
    expect(moved.status).toBe(422);
    expect(moved.body.message).toContain(
      'spec.podCIDRs: Forbidden: node updates may not change podCIDR except from "" to valid',
    );
  });

  it("events print as kubectl get events and select on involvedObject", async () => {
    const ev = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: "p.1" },
      involvedObject: { kind: "Pod", name: "p-x", namespace: "default" },
      reason: "Scheduled",
      message: "Successfully assigned default/p-x to n-1 ",
      type: "Normal",
      source: { component: "default-scheduler" },
      count: 1,
    };
    expect((await call("POST", `${NS}/events`, ev)).status).toBe(201);
    const bad = await call("POST", `${NS}/events`, {
      ...ev,
      metadata: { name: "p.2" },
      involvedObject: { kind: "Pod", name: "p-x", namespace: "other" },
    });
    expect(bad.body.message).toBe(
      'Event "p.2" is invalid: involvedObject.namespace: Invalid value: "other": does not match event.namespace',
    );
    const table = await call(
      "GET",
      `${NS}/events?fieldSelector=involvedObject.name=p-x,reason=Scheduled`,
      undefined,
      TABLE,
    );
    expect(
      table.body.columnDefinitions
        .filter((c: { priority: number }) => c.priority === 0)
        .map((c: { name: string }) => c.name),
    ).toEqual(["Last Seen", "Type", "Reason", "Object", "Message"]);
    const cells = table.body.rows[0].cells;
    expect([cells[1], cells[2], cells[3], cells[5], cells[6], cells[8], cells[9]]).toEqual([
      "Normal",
      "Scheduled",
      "pod/p-x",
      "default-scheduler",
      "Successfully assigned default/p-x to n-1",
      1,
      "p.1",
    ]);
  });

  it("claims start Pending with a fixed spec; volumes are Available and Retain", async () => {
    const claim = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: "pvc-1" },
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    };
    const made = await call("POST", `${NS}/persistentvolumeclaims`, claim);
    expect(made.status).toBe(201);
    expect(made.body.status).toEqual({ phase: "Pending" });
    expect(made.body.spec.volumeMode).toBe("Filesystem");
    const changed = await putUnpinned(`${NS}/persistentvolumeclaims/pvc-1`, {
      ...made.body,
      spec: { ...made.body.spec, accessModes: ["ReadWriteMany"] },
    });
    expect(changed.status).toBe(422);
    expect(changed.body.message).toContain(
      "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
    );
    const empty = await call("POST", `${NS}/persistentvolumeclaims`, {
      ...claim,
      metadata: { name: "pvc-2" },
      spec: {},
    });
    expect(empty.body.message).toBe(
      'PersistentVolumeClaim "pvc-2" is invalid: [spec.accessModes: Required value: at least 1 access mode is required, spec.resources[storage]: Required value]',
    );
    const claims = await call("GET", `${NS}/persistentvolumeclaims/pvc-1`, undefined, TABLE);
    expect(claims.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Status",
      "Volume",
      "Capacity",
      "Access Modes",
      "StorageClass",
      "VolumeAttributesClass",
      "Age",
      "VolumeMode",
    ]);
    expect(claims.body.rows[0].cells.slice(0, 7)).toEqual([
      "pvc-1",
      "Pending",
      "",
      "",
      "",
      "",
      "<unset>",
    ]);

    const pv = {
      apiVersion: "v1",
      kind: "PersistentVolume",
      metadata: { name: "pv-1" },
      spec: {
        capacity: { storage: "5Gi" },
        accessModes: ["ReadWriteOnce", "ReadOnlyMany"],
        hostPath: { path: "/data" },
        storageClassName: "local",
      },
    };
    const vol = await call("POST", "/api/v1/persistentvolumes", pv);
    expect(vol.status).toBe(201);
    expect(vol.body.spec.persistentVolumeReclaimPolicy).toBe("Retain");
    expect(vol.body.status.phase).toBe("Available");
    const vols = await call("GET", "/api/v1/persistentvolumes/pv-1", undefined, TABLE);
    expect(vols.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Capacity",
      "Access Modes",
      "Reclaim Policy",
      "Status",
      "Claim",
      "StorageClass",
      "VolumeAttributesClass",
      "Reason",
      "Age",
      "VolumeMode",
    ]);
    expect(vols.body.rows[0].cells.slice(0, 9)).toEqual([
      "pv-1",
      "5Gi",
      "RWO,ROX",
      "Retain",
      "Available",
      "",
      "local",
      "<unset>",
      "",
    ]);
    const noSource = await call("POST", "/api/v1/persistentvolumes", {
      ...pv,
      metadata: { name: "pv-2" },
      spec: { ...pv.spec, hostPath: undefined },
    });
    expect(noSource.body.message).toBe(
      'PersistentVolume "pv-2" is invalid: spec: Required value: must specify a volume type',
    );
  });

  it("endpoints and service accounts print their columns", async () => {
    const ep = await call("POST", `${NS}/endpoints`, {
      metadata: { name: "ep-1" },
      subsets: [{ addresses: [{ ip: "10.42.0.5" }, { ip: "10.42.0.6" }], ports: [{ port: 8080 }] }],
    });
    expect(ep.status).toBe(201);
    expect(ep.body.subsets[0].ports[0].protocol).toBe("TCP");
    const t = await call("GET", `${NS}/endpoints/ep-1`, undefined, TABLE);
    expect(t.body.rows[0].cells.slice(0, 2)).toEqual(["ep-1", "10.42.0.5:8080,10.42.0.6:8080"]);
    const loop = await call("POST", `${NS}/endpoints`, {
      metadata: { name: "ep-2" },
      subsets: [{ addresses: [{ ip: "127.0.0.1" }] }],
    });
    expect(loop.body.message).toBe(
      'Endpoints "ep-2" is invalid: subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
    );
    await call("POST", `${NS}/serviceaccounts`, {
      metadata: { name: "sa-1" },
      secrets: [{ name: "x" }],
    });
    const sa = await call("GET", `${NS}/serviceaccounts/sa-1`, undefined, TABLE);
    expect(sa.body.columnDefinitions.map((c: { name: string }) => c.name)).toEqual([
      "Name",
      "Secrets",
      "Age",
    ]);
    expect(sa.body.rows[0].cells.slice(0, 2)).toEqual(["sa-1", 1]);
  });
});
