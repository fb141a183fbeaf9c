// Workloads end to end: real kubectl against the control plane's controllers, with hollow nodes
// (test/hollow) playing the kubelets.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HollowNodes } from "../hollow/hollow-nodes.ts";
import { type Cluster, eventually, startCluster } from "./cluster.ts";

const NS = "shop";
const deployment = (image: string, replicas = 3) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ${NS}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ${image}
        resources:
          requests: {cpu: 100m, memory: 64Mi}
`;

const daemonSet = (image: string) => `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: ${NS}
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: ${image}
`;

const statefulSet = (image: string) => `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: ${NS}
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: ${image}
`;

describe("workloads with kubectl and hollow nodes", () => {
  let cluster: Cluster;
  let nodes: HollowNodes;
  const k = (args: string[], input?: string) => cluster.kubectl(["-n", NS, ...args], { input });
  /** `kubectl get <what> -o jsonpath={<path>}`. */
  const field = (what: string[], path: string) => k(["get", ...what, "-o", `jsonpath={${path}}`]);

  beforeAll(async () => {
    cluster = await startCluster();
    nodes = new HollowNodes({ server: cluster.server, token: cluster.token, renewSeconds: 2 });
    await nodes.register([{ name: "node-1" }, { name: "node-2" }, { name: "node-3" }]);
    nodes.start();
    await cluster.kubectl(["create", "namespace", NS]);
  });

  afterAll(async () => {
    await nodes?.close();
    await cluster?.destroy();
  });

  it("rolls out, shows history, undoes, restarts and scales", async () => {
    await k(["apply", "-f", "-"], deployment("registry.local/web:1"));
    const status = await k(["rollout", "status", "deployment/web", "--timeout=90s"]);
    expect(status).toContain('deployment "web" successfully rolled out');

    await k(["set", "image", "deployment/web", "web=registry.local/web:2"]);
    await k(["annotate", "deployment/web", "kubernetes.io/change-cause=image 2", "--overwrite"]);
    await k(["rollout", "status", "deployment/web", "--timeout=90s"]);
    const history = await k(["rollout", "history", "deployment/web"]);
    expect(history).toMatch(/REVISION\s+CHANGE-CAUSE/);
    expect(history).toMatch(/\n1\s+/);
    expect(history).toMatch(/\n2\s+image 2/);

    await k(["rollout", "undo", "deployment/web"]);
    await k(["rollout", "status", "deployment/web", "--timeout=90s"]);
    const image = await k([
      "get",
      "deployment",
      "web",
      "-o",
      "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    expect(image).toBe("registry.local/web:1");

    await k(["rollout", "restart", "deployment/web"]);
    await k(["rollout", "status", "deployment/web", "--timeout=90s"]);
    const restarted = await k([
      "get",
      "pods",
      "-l",
      "app=web",
      "-o",
      "jsonpath={.items[*].metadata.annotations}",
    ]);
    expect(restarted).toContain("kubectl.kubernetes.io/restartedAt");

    await k(["scale", "deployment/web", "--replicas=5"]);
    await k(["rollout", "status", "deployment/web", "--timeout=90s"]);
    const ready = await k(["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"]);
    expect(ready).toBe("5");
    const table = await k(["get", "deployment", "web"]);
    expect(table).toMatch(/web\s+5\/5\s+5\s+5\s+/);
  });

  it("describe shows Events and get events lists what the controllers did", async () => {
    const described = await k(["describe", "deployment", "web"]);
    expect(described).toContain("Events:");
    expect(described).toMatch(/ScalingReplicaSet\s+.*Scaled up replica set web-/);
    const pod = (
      await k(["get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}"])
    ).trim();
    const podDescribed = await k(["describe", "pod", pod]);
    expect(podDescribed).toMatch(/Scheduled\s+.*Successfully assigned shop\/web-/);
    const events = await k(["get", "events"]);
    expect(events).toMatch(/LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE/);
    expect(events).toContain("SuccessfulCreate");
  });

  it("cordon keeps new pods away; drain evicts a node's pods and they come back elsewhere", async () => {
    await cluster.kubectl(["cordon", "node-1"]);
    const nodesTable = await cluster.kubectl(["get", "node", "node-1"]);
    expect(nodesTable).toContain("SchedulingDisabled");
    const drained = await cluster.kubectl([
      "drain",
      "node-1",
      "--ignore-daemonsets",
      "--timeout=90s",
    ]);
    expect(drained).toContain("node/node-1 drained");
    await eventually(async () => {
      const where = await k([
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
      ]);
      const placed = where.split(" ").filter(Boolean);
      return placed.length === 5 && !placed.includes("node-1");
    }, 90_000);
    await k(["rollout", "status", "deployment/web", "--timeout=90s"]);
    await cluster.kubectl(["uncordon", "node-1"]);
    expect(await cluster.kubectl(["get", "node", "node-1"])).not.toContain("SchedulingDisabled");
  });

  it("rollout history and undo a DaemonSet through its ControllerRevisions", async () => {
    await k(["apply", "-f", "-"], daemonSet("registry.local/agent:1"));
    await k(["rollout", "status", "daemonset/agent", "--timeout=90s"]);
    // The revision copies the DaemonSet's annotations when it is made: annotate first.
    await k(["annotate", "daemonset/agent", "kubernetes.io/change-cause=agent 2"]);
    await k(["set", "image", "daemonset/agent", "agent=registry.local/agent:2"]);
    await k(["rollout", "status", "daemonset/agent", "--timeout=90s"]);
    const history = await k(["rollout", "history", "daemonset/agent"]);
    expect(history).toMatch(/REVISION\s+CHANGE-CAUSE/);
    expect(history).toMatch(/\n1\s+<none>/);
    expect(history).toMatch(/\n2\s+agent 2/);
    const first = await k(["rollout", "history", "daemonset/agent", "--revision=1"]);
    expect(first).toContain("registry.local/agent:1");

    const undone = await k(["rollout", "undo", "daemonset/agent"]);
    expect(undone).toContain("daemonset.apps/agent rolled back");
    await k(["rollout", "status", "daemonset/agent", "--timeout=90s"]);
    const image = await field(["daemonset", "agent"], ".spec.template.spec.containers[0].image");
    expect(image).toBe("registry.local/agent:1");
    await eventually(async () => {
      const now = await field(["pods", "-l", "app=agent"], ".items[*].spec.containers[0].image");
      return now.split(" ").every((i) => i === "registry.local/agent:1");
    }, 90_000);
    // Revision 1 came back as revision 3.
    const after = await k(["rollout", "history", "daemonset/agent"]);
    expect(after).toMatch(/\n2\s+agent 2/);
    expect(after).toMatch(/\n3\s+/);
    expect(after).not.toMatch(/\n1\s+/);
    const revisions = await k(["get", "controllerrevisions"]);
    expect(revisions).toMatch(/NAME\s+CONTROLLER\s+REVISION\s+AGE/);
    expect(revisions).toMatch(/agent-\w+\s+daemonset\.apps\/agent\s+3\s+/);
  });

  it("rollout history and undo a StatefulSet through its ControllerRevisions", async () => {
    await k(["apply", "-f", "-"], statefulSet("registry.local/db:1"));
    await k(["rollout", "status", "statefulset/db", "--timeout=90s"]);
    await k(["set", "image", "statefulset/db", "db=registry.local/db:2"]);
    await k(["rollout", "status", "statefulset/db", "--timeout=90s"]);
    const history = await k(["rollout", "history", "statefulset/db"]);
    expect(history).toMatch(/\n1\s+<none>/);
    expect(history).toMatch(/\n2\s+<none>/);

    expect(await k(["rollout", "undo", "statefulset/db"])).toContain(
      "statefulset.apps/db rolled back",
    );
    await k(["rollout", "status", "statefulset/db", "--timeout=90s"]);
    await eventually(async () => {
      const images = await field(["pods", "-l", "app=db"], ".items[*].spec.containers[0].image");
      return images.split(" ").length === 2 && !images.includes("registry.local/db:2");
    }, 90_000);
    const current = await field(["statefulset", "db"], ".status.currentRevision");
    expect(await field(["statefulset", "db"], ".status.updateRevision")).toBe(current);
    const numbered = await field(["controllerrevision", current], ".revision");
    expect(numbered).toBe("3");
  });
});
