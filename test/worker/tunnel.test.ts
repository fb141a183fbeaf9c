// Logs through the tunnel: a test agent dials its node's tunnel as the real agent does and
// answers log requests over the wire protocol (src/tunnel/node-tunnel.ts); kubectl's requests
// (pods/log) come back with its lines, follow streams later lines, and the errors read as
// Kubernetes'.
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type DownFrame,
  dataFrame,
  type LogQuery,
  MAX_CHUNK_BYTES,
  WINDOW_BYTES,
} from "../../src/k8s/tunnel-protocol.ts";
import { api, call, eventually, TOKEN } from "./helpers.ts";
import { registerNode } from "./hollow.ts";
import { joinNode } from "./nodes.ts";

vi.setConfig({ testTimeout: 30_000 });

const NS = "default";

/** Binary messages of an accepted socket, in order (workerd hands them over as Blobs). */
function onBinary(ws: WebSocket, handle: (bytes: Uint8Array) => void) {
  let chain = Promise.resolve();
  ws.addEventListener("message", (e) => {
    const data = e.data as string | ArrayBuffer | Blob;
    if (typeof data === "string") return;
    chain = chain.then(async () =>
      handle(new Uint8Array(data instanceof Blob ? await data.arrayBuffer() : data)),
    );
  });
}
const enc = new TextEncoder();

interface Outgoing {
  queue: Uint8Array[];
  credit: number;
  follow: boolean;
  sent: number;
}

/**
 * A test agent: serves `logs` from memory, in chunks within its flow-control window as the
 * real agent does; follow streams stay open for `push`.
 */
class TestAgent {
  readonly requests: (DownFrame & { type: "logs" })[] = [];
  readonly execs: (DownFrame & { type: "exec" })[] = [];
  readonly forwards: (DownFrame & { type: "portforward" })[] = [];
  readonly proxied: { q: DownFrame & { type: "proxy" }; body: string }[] = [];
  readonly cancelled: number[] = [];
  readonly ws: WebSocket;
  readonly streams = new Map<number, Outgoing>();
  logs = new Map<string, string>();
  /** Answer with this error instead of data. */
  failWith?: { code: number; message: string };

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.accept();
    ws.addEventListener("message", (e) => {
      if (typeof e.data !== "string" || e.data === "pong") return;
      const f = JSON.parse(e.data) as DownFrame;
      if (f.type === "cancel") {
        this.cancelled.push(f.id);
        this.streams.delete(f.id);
      } else if (f.type === "ack") {
        const st = this.streams.get(f.id);
        if (st) st.credit += f.bytes;
        this.pump(f.id);
      } else if (f.type === "logs") this.serve(f);
      else if (f.type === "exec") this.execs.push(f);
      else if (f.type === "proxy") {
        this.proxied.push({ q: f, body: "" });
        if (f.bodyBytes === 0) this.answer(f.id);
      } else if (f.type === "portforward") {
        this.forwards.push(f);
        if (this.failWith) ws.send(JSON.stringify({ type: "error", id: f.id, ...this.failWith }));
        else ws.send(JSON.stringify({ type: "start", id: f.id }));
      }
    });
    // An exec stream echoes stdin on stdout; closing stdin ends it with Success. A port-forward
    // stream echoes the bytes as they are, reversed (so an echo is not mistaken for a loop).
    onBinary(ws, (bytes) => {
      const id = new DataView(bytes.buffer).getUint32(0);
      const asked = this.proxied.find((x) => x.q.id === id);
      if (asked) {
        asked.body += new TextDecoder().decode(bytes.subarray(4));
        if (asked.body.length >= asked.q.bodyBytes) this.answer(id);
        return;
      }
      if (this.forwards.some((f) => f.id === id)) {
        this.ws.send(dataFrame(id, bytes.subarray(4).reverse()));
        return;
      }
      const [channel, ...rest] = bytes.subarray(4);
      if (channel === 0) this.ws.send(dataFrame(id, new Uint8Array([1, ...rest])));
      else if (channel === 255) {
        const ok = enc.encode(JSON.stringify({ metadata: {}, status: "Success" }));
        this.ws.send(dataFrame(id, new Uint8Array([3, ...ok])));
        this.ws.send(JSON.stringify({ type: "end", id }));
      }
    });
  }

  /** A proxied request's answer: what was asked, echoed back with a status of its own. */
  private answer(id: number) {
    const { q, body } = this.proxied.find((x) => x.q.id === id) as TestAgent["proxied"][0];
    const headers = [
      ["content-type", "text/plain"],
      ["x-pod", q.pod],
      ["connection", "close"],
    ];
    this.ws.send(JSON.stringify({ type: "start", id, status: 201, headers }));
    this.ws.send(dataFrame(id, enc.encode(`${q.method} ${q.port} ${q.path} ${body}`)));
    this.ws.send(JSON.stringify({ type: "end", id }));
  }

  /** Stream ids of open follow requests. */
  get following(): number[] {
    return [...this.streams].filter(([, s]) => s.follow).map(([id]) => id);
  }

  private serve(f: DownFrame & { type: "logs" }) {
    this.requests.push(f);
    if (this.failWith) {
      this.ws.send(JSON.stringify({ type: "error", id: f.id, ...this.failWith }));
      return;
    }
    this.ws.send(JSON.stringify({ type: "start", id: f.id }));
    this.streams.set(f.id, { queue: [], credit: WINDOW_BYTES, follow: !!f.follow, sent: 0 });
    this.write(f.id, this.logs.get(key(f)) ?? "");
  }

  push(text: string) {
    for (const id of this.following) this.write(id, text);
  }

  private write(id: number, text: string) {
    const bytes = enc.encode(text);
    const st = this.streams.get(id);
    for (let off = 0; off < bytes.length; off += MAX_CHUNK_BYTES)
      st?.queue.push(bytes.subarray(off, off + MAX_CHUNK_BYTES));
    this.pump(id);
  }

  private pump(id: number) {
    const st = this.streams.get(id);
    if (!st) return;
    while (st.queue.length && st.credit >= st.queue[0].length) {
      const chunk = st.queue.shift() as Uint8Array;
      st.credit -= chunk.length;
      st.sent += chunk.length;
      this.ws.send(dataFrame(id, chunk));
    }
    if (!st.queue.length && !st.follow) {
      this.streams.delete(id);
      this.ws.send(JSON.stringify({ type: "end", id }));
    }
  }
}

const key = (q: Pick<LogQuery, "namespace" | "pod" | "container">) =>
  `${q.namespace}/${q.pod}/${q.container}`;

const credentials = new Map<string, string>();
/** The node's credential, joining it the first time. */
async function credential(node: string): Promise<string> {
  if (!credentials.has(node)) credentials.set(node, (await joinNode(node)).credential);
  return credentials.get(node) as string;
}

const openTunnel = async (node: string, token: string) =>
  api("GET", `/kubeflare/v1/nodes/${node}/tunnel`, undefined, {
    upgrade: "websocket",
    authorization: `Bearer ${token}`,
  });

/** Open the node's tunnel as its agent would: a WebSocket with the node's credential. */
async function dial(node: string): Promise<TestAgent> {
  const res = await openTunnel(node, await credential(node));
  expect(res.status).toBe(101);
  return new TestAgent(res.webSocket as WebSocket);
}

const running = (name: string) => ({
  name,
  ready: true,
  restartCount: 0,
  state: { running: { startedAt: "2026-11-22T04:00:00Z" } },
  containerID: `containerd://${name}-1`,
});

/** A pod bound to `node` (tolerating everything, so no eviction), its containers running. */
/** Merge-patches a pod's status as its kubelet would. */
const patchStatus = (pod: string, status: Record<string, unknown>) =>
  call(
    "PATCH",
    `/api/v1/namespaces/${NS}/pods/${pod}/status`,
    { status },
    {
      "content-type": "application/merge-patch+json",
    },
  );

async function boundPod(name: string, node: string | undefined, containers = ["app"]) {
  const created = await call("POST", `/api/v1/namespaces/${NS}/pods`, {
    metadata: { name, labels: { app: "logs" } },
    spec: {
      ...(node ? { nodeName: node } : { nodeSelector: { nowhere: "true" } }),
      tolerations: [{ operator: "Exists" }],
      containers: containers.map((c) => ({ name: c, image: "busybox" })),
    },
  });
  expect(created.status).toBe(201);
  if (!node) return created.body;
  const st = await patchStatus(name, {
    phase: "Running",
    containerStatuses: containers.map(running),
  });
  expect(st.status).toBe(200);
  return st.body;
}

const logPath = (pod: string, q = "") => `/api/v1/namespaces/${NS}/pods/${pod}/log${q}`;

const agents: TestAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) a.ws.close();
  await call("DELETE", `/api/v1/namespaces/${NS}/pods`, { gracePeriodSeconds: 0 });
});

describe("pods/log through the tunnel", () => {
  it("returns the container's log from its node, with the options passed on", async () => {
    await registerNode("logs-1");
    const agent = await dial("logs-1");
    agents.push(agent);
    const pod = await boundPod("web", "logs-1");
    agent.logs.set(`${NS}/web/app`, "one\ntwo\n");

    const res = await api(
      "GET",
      logPath("web", "?tailLines=2&timestamps=true&sinceSeconds=60&limitBytes=100"),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    expect(await res.text()).toBe("one\ntwo\n");
    expect(agent.requests.at(-1)).toMatchObject({
      type: "logs",
      namespace: NS,
      pod: "web",
      uid: pod.metadata.uid,
      container: "app",
      tailLines: 2,
      timestamps: true,
      sinceSeconds: 60,
      limitBytes: 100,
      follow: false,
      previous: false,
    });
  });

  it("follow streams lines written later and cancels when the client goes away", async () => {
    await registerNode("logs-2");
    const agent = await dial("logs-2");
    agents.push(agent);
    await boundPod("tail", "logs-2");
    agent.logs.set(`${NS}/tail/app`, "first\n");

    const res = await api("GET", logPath("tail", "?follow=true"));
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const dec = new TextDecoder();
    expect(dec.decode((await reader.read()).value)).toBe("first\n");
    const id = agent.following[0];
    agent.push("later\n");
    expect(dec.decode((await reader.read()).value)).toBe("later\n");
    await reader.cancel();
    await eventually(async () => agent.cancelled.includes(id), 2000);
  });

  it("holds the node to its window until the client reads", async () => {
    await registerNode("logs-9");
    const agent = await dial("logs-9");
    agents.push(agent);
    await boundPod("chatty", "logs-9");
    const line = `${"z".repeat(99)}\n`;
    agent.logs.set(`${NS}/chatty/app`, line.repeat(10_000));

    const res = await api("GET", logPath("chatty"));
    const id = agent.requests.at(-1)?.id as number;
    await new Promise((r) => setTimeout(r, 300));
    const stream = agent.streams.get(id);
    expect(stream?.sent).toBe(WINDOW_BYTES);
    expect(stream?.queue.length).toBeGreaterThan(0);
    const text = await res.text();
    expect(text.length).toBe(1_000_000);
    expect(text.endsWith(line)).toBe(true);
    expect(agent.streams.has(id)).toBe(false);
  });

  it("does not follow a container that has stopped", async () => {
    await registerNode("logs-8");
    const agent = await dial("logs-8");
    agents.push(agent);
    await boundPod("done", "logs-8");
    const terminated = {
      name: "app",
      ready: false,
      restartCount: 0,
      containerID: "containerd://app-1",
      state: {
        terminated: { exitCode: 0, reason: "Completed", containerID: "containerd://app-1" },
      },
    };
    await patchStatus("done", { phase: "Succeeded", containerStatuses: [terminated] });
    agent.logs.set(`${NS}/done/app`, "finished\n");
    const res = await api("GET", logPath("done", "?follow=true"));
    expect(await res.text()).toBe("finished\n");
    expect(agent.requests.at(-1)).toMatchObject({ follow: false });
  });

  it("picks a container by name and relays the node's errors", async () => {
    await registerNode("logs-3");
    const agent = await dial("logs-3");
    agents.push(agent);
    await boundPod("two", "logs-3", ["a", "b"]);
    agent.logs.set(`${NS}/two/b`, "from b\n");

    const missing = await call("GET", logPath("two"));
    expect(missing.status).toBe(400);
    expect(missing.body.reason).toBe("BadRequest");
    expect(missing.body.message).toBe(
      "a container name must be specified for pod two, choose one of: [a b]",
    );
    const wrong = await call("GET", logPath("two", "?container=c"));
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toBe("container c is not valid for pod two");

    const b = await api("GET", logPath("two", "?container=b"));
    expect(await b.text()).toBe("from b\n");

    agent.failWith = {
      code: 400,
      message: 'previous terminated container "b" in pod "two" not found',
    };
    const err = await call("GET", logPath("two", "?container=b"));
    expect(err.status).toBe(400);
    expect(err.body.message).toBe('previous terminated container "b" in pod "two" not found');
  });

  it("refuses what Kubernetes refuses", async () => {
    await registerNode("logs-4");
    await boundPod("lonely", "logs-4");
    const none = await call("GET", logPath("lonely"));
    expect(none.status).toBe(503);
    expect(none.body.message).toBe(
      'Get "https://logs-4:10250/containerLogs/default/lonely/app": no tunnel for node "logs-4": its agent is not connected',
    );

    const fresh = await call("POST", `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name: "fresh" },
      spec: { nodeName: "logs-4", containers: [{ name: "app", image: "busybox" }] },
    });
    expect(fresh.status).toBe(201);
    const creating = await call("GET", logPath("fresh"));
    expect(creating.status).toBe(400);
    expect(creating.body.message).toBe(
      'container "app" in pod "fresh" is waiting to start: ContainerCreating',
    );

    await boundPod("pending", undefined);
    const unbound = await call("GET", logPath("pending"));
    expect(unbound.status).toBe(400);
    expect(unbound.body.message).toBe("pod pending does not have a host assigned");

    const prev = await call("GET", logPath("lonely", "?previous=true"));
    expect(prev.status).toBe(400);
    expect(prev.body.message).toBe('previous terminated container "app" in pod "lonely" not found');

    const bad = await call("GET", logPath("lonely", "?tailLines=-1&limitBytes=0"));
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe(
      'PodLogOptions "lonely" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, limitBytes: Invalid value: 0: must be greater than 0]',
    );
    const nan = await call("GET", logPath("lonely", "?tailLines=ten"));
    expect(nan.status).toBe(400);
    const when = await call("GET", logPath("lonely", "?sinceTime=yesterday"));
    expect(when.status).toBe(400);
    const both = await call(
      "GET",
      logPath("lonely", "?sinceSeconds=5&sinceTime=2026-11-22T04:00:00Z"),
    );
    expect(both.status).toBe(422);
    // As Kubernetes words it (the error is on the empty field path).
    expect(both.body.message).toBe(
      'PodLogOptions "lonely" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified',
    );

    expect((await call("GET", logPath("ghost"))).status).toBe(404);
  });

  it("lists pods/log in discovery", async () => {
    const list = await call("GET", "/api/v1");
    const log = list.body.resources.find((r: any) => r.name === "pods/log");
    expect(log).toMatchObject({ kind: "Pod", verbs: ["get"], namespaced: true });
  });
});

describe("the tunnel endpoint", () => {
  it("lets no one but the node itself open a node's tunnel", async () => {
    const admin = await openTunnel("logs-5", TOKEN);
    expect(admin.status).toBe(403);
    const body: any = await admin.json();
    expect(body.reason).toBe("Forbidden");
    expect(body.message).toContain('User "admin" cannot open the tunnel of node "logs-5"');

    const other = await openTunnel("logs-5", await credential("logs-7"));
    expect(other.status).toBe(403);
    expect(((await other.json()) as any).message).toContain('User "system:node:logs-7"');

    const nobody = await openTunnel("logs-5", "not-a-credential");
    expect(nobody.status).toBe(401);

    const plain = await api("GET", "/kubeflare/v1/nodes/logs-5/tunnel", undefined, {
      authorization: `Bearer ${await credential("logs-5")}`,
    });
    expect(plain.status).toBe(400);
  });

  it("serves through the newest socket when the agent reconnects", async () => {
    await registerNode("logs-6");
    const old = await dial("logs-6");
    const closed = new Promise<number>((r) => old.ws.addEventListener("close", (e) => r(e.code)));
    const fresh = await dial("logs-6");
    agents.push(old, fresh);
    expect(await closed).toBe(4000);
    await boundPod("again", "logs-6");
    fresh.logs.set(`${NS}/again/app`, "fresh\n");
    const res = await api("GET", logPath("again"));
    expect(await res.text()).toBe("fresh\n");
    expect(old.requests).toHaveLength(0);
  });
});

describe("pods/exec through the tunnel", () => {
  const execPath = (pod: string, q = "?command=cat&stdin=true&stdout=true") =>
    `/api/v1/namespaces/${NS}/pods/${pod}/exec${q}`;
  const upgrade = (protocol = "v5.channel.k8s.io,v4.channel.k8s.io") => ({
    upgrade: "websocket",
    "sec-websocket-protocol": protocol,
  });

  /** kubectl's side: the WebSocket, and the messages it received, as channel + text. */
  async function open(pod: string) {
    const res = await api("GET", execPath(pod), undefined, upgrade());
    expect(res.status).toBe(101);
    expect(res.headers.get("sec-websocket-protocol")).toBe("v5.channel.k8s.io");
    const ws = res.webSocket as WebSocket;
    const got: [number, string][] = [];
    let closed = false;
    ws.accept();
    onBinary(ws, (b) => {
      got.push([b[0], new TextDecoder().decode(b.subarray(1))]);
    });
    ws.addEventListener("close", () => {
      closed = true;
    });
    return { ws, got, closed: () => closed };
  }

  it("relays stdin and output between kubectl and the node, and ends with the Status", async () => {
    await registerNode("exec-1");
    const agent = await dial("exec-1");
    agents.push(agent);
    const pod = await boundPod("shell", "exec-1");
    const k = await open("shell");
    await eventually(async () => agent.execs.length === 1);
    expect(agent.execs[0]).toMatchObject({
      namespace: NS,
      pod: "shell",
      uid: pod.metadata.uid,
      container: "app",
      command: ["cat"],
      stdin: true,
      stdout: true,
      stderr: false,
      tty: false,
    });
    k.ws.send(new Uint8Array([0, ...enc.encode("hello")]));
    k.ws.send(new Uint8Array([255, 0]));
    await eventually(async () => k.closed());
    expect(k.got).toEqual([
      [1, "hello"],
      [3, '{"metadata":{},"status":"Success"}'],
    ]);
  });

  it("says so on the error channel when the node's agent is not connected", async () => {
    await registerNode("exec-2");
    await boundPod("orphan", "exec-2");
    const k = await open("orphan");
    await eventually(async () => k.closed());
    expect(k.got).toHaveLength(1);
    expect(k.got[0][0]).toBe(3);
    expect(JSON.parse(k.got[0][1])).toMatchObject({
      status: "Failure",
      message: 'no tunnel for node "exec-2": its agent is not connected',
    });
  });

  it("refuses what Kubernetes refuses", async () => {
    await registerNode("exec-3");
    await boundPod("target", "exec-3");
    const plain = await call("GET", execPath("target"));
    expect(plain.status).toBe(400);
    expect(plain.body.message).toContain("Upgrade request required");
    const old = await api("GET", execPath("target"), undefined, upgrade("channel.k8s.io"));
    expect(old.status).toBe(400);
    const noCommand = await api("GET", execPath("target", "?stdout=true"), undefined, upgrade());
    expect(noCommand.status).toBe(400);
    const nul = await api(
      "GET",
      execPath("target", "?command=%00&stdout=true"),
      undefined,
      upgrade(),
    );
    expect(nul.status).toBe(400);
    const noStream = await api("GET", execPath("target", "?command=ls"), undefined, upgrade());
    expect(((await noStream.json()) as { message: string }).message).toBe(
      "you must specify at least 1 of stdin, stdout, stderr",
    );
    const other = await api(
      "GET",
      execPath("target", "?command=ls&stdout=true&container=x"),
      undefined,
      upgrade(),
    );
    expect(((await other.json()) as { message: string }).message).toBe(
      "container x is not valid for pod target",
    );
    await patchStatus("target", { phase: "Succeeded" });
    const done = await api("GET", execPath("target"), undefined, upgrade());
    expect(((await done.json()) as { message: string }).message).toBe(
      "cannot exec into a container in a completed pod; current phase is Succeeded",
    );
  });
});

describe("pods/portforward through the tunnel", () => {
  const forwardPath = (pod: string) => `/api/v1/namespaces/${NS}/pods/${pod}/portforward`;
  const upgrade = (protocol = "SPDY/3.1+portforward.k8s.io") => ({
    upgrade: "websocket",
    "sec-websocket-protocol": protocol,
  });

  it("relays kubectl's bytes to the pod's node and back, unchanged", async () => {
    await registerNode("pf-1");
    const agent = await dial("pf-1");
    agents.push(agent);
    const pod = await boundPod("web", "pf-1");
    const res = await api("GET", forwardPath("web"), undefined, upgrade());
    expect(res.status).toBe(101);
    expect(res.headers.get("sec-websocket-protocol")).toBe("SPDY/3.1+portforward.k8s.io");
    const ws = res.webSocket as WebSocket;
    ws.accept();
    const got: Uint8Array[] = [];
    onBinary(ws, (b) => {
      got.push(b);
    });
    await eventually(async () => agent.forwards.length === 1);
    expect(agent.forwards[0]).toMatchObject({ namespace: NS, pod: "web", uid: pod.metadata.uid });
    ws.send(new Uint8Array([0x80, 3, 0, 1]));
    ws.send(new Uint8Array([5, 6]));
    await eventually(async () => got.length === 2);
    expect(got.map((b) => [...b])).toEqual([
      [1, 0, 3, 0x80],
      [6, 5],
    ]);
    const closed = new Promise<void>((r) => ws.addEventListener("close", () => r()));
    ws.close(1000, "");
    await closed;
    await eventually(async () => agent.cancelled.includes(agent.forwards[0].id));
  });

  it("speaks the channel protocol of client libraries, ports named in the query", async () => {
    await registerNode("pf-4");
    const agent = await dial("pf-4");
    agents.push(agent);
    await boundPod("lib", "pf-4");
    const res = await api(
      "GET",
      `${forwardPath("lib")}?ports=80&ports=8080,9090`,
      undefined,
      upgrade("v4.channel.k8s.io"),
    );
    expect(res.status).toBe(101);
    expect(res.headers.get("sec-websocket-protocol")).toBe("v4.channel.k8s.io");
    (res.webSocket as WebSocket).accept();
    await eventually(async () => agent.forwards.length === 1);
    expect(agent.forwards[0].ports).toEqual([80, 8080, 9090]);
    (res.webSocket as WebSocket).close(1000, "");
  });

  it("closes kubectl's socket with the reason when the node cannot serve it", async () => {
    await registerNode("pf-2");
    await boundPod("lonely", "pf-2");
    const res = await api("GET", forwardPath("lonely"), undefined, upgrade());
    expect(res.status).toBe(101);
    const ws = res.webSocket as WebSocket;
    const closed = new Promise<CloseEvent>((r) => ws.addEventListener("close", r));
    ws.accept();
    const e = await closed;
    expect(e.code).toBe(1011);
    expect(e.reason).toBe('no tunnel for node "pf-2": its agent is not connected');

    const agent = await dial("pf-2");
    agents.push(agent);
    agent.failWith = { code: 404, message: "pod default/lonely is not running on this node" };
    const again = await api("GET", forwardPath("lonely"), undefined, upgrade());
    const ws2 = again.webSocket as WebSocket;
    const closed2 = new Promise<CloseEvent>((r) => ws2.addEventListener("close", r));
    ws2.accept();
    expect((await closed2).reason).toBe("pod default/lonely is not running on this node");
  });

  it("refuses what Kubernetes refuses", async () => {
    await registerNode("pf-3");
    await boundPod("target", "pf-3");
    const plain = await call("POST", forwardPath("target"));
    expect(plain.status).toBe(400);
    expect(plain.body.message).toContain("SPDY/3.1+portforward.k8s.io");
    const other = await api("GET", forwardPath("target"), undefined, upgrade("v5.channel.k8s.io"));
    expect(other.status).toBe(400);
    const noPorts = await api(
      "GET",
      forwardPath("target"),
      undefined,
      upgrade("v4.channel.k8s.io"),
    );
    expect(((await noPorts.json()) as { message: string }).message).toBe(
      'query parameter "ports" is required',
    );
    const badPort = await api(
      "GET",
      `${forwardPath("target")}?ports=80,99999`,
      undefined,
      upgrade("v4.channel.k8s.io"),
    );
    expect(badPort.status).toBe(400);
    const missing = await api("GET", forwardPath("nope"), undefined, upgrade());
    expect(missing.status).toBe(404);
    await boundPod("waiting", undefined);
    const unbound = await call("GET", forwardPath("waiting"));
    expect(unbound.body.message).toBe("pod waiting does not have a host assigned");
    await patchStatus("target", { phase: "Succeeded" });
    const done = await api("GET", forwardPath("target"), undefined, upgrade());
    expect(((await done.json()) as { message: string }).message).toBe(
      "unable to forward port because pod is not running. Current status=Succeeded",
    );
  });
});

describe("pods/proxy and services/proxy through the tunnel", () => {
  /** A pod bound to the node, Running and Ready with an IP, declaring container port 9090. */
  async function servingPod(name: string, node: string) {
    const created = await call("POST", `/api/v1/namespaces/${NS}/pods`, {
      metadata: { name, labels: { app: "proxied" } },
      spec: {
        nodeName: node,
        tolerations: [{ operator: "Exists" }],
        containers: [{ name: "app", image: "busybox", ports: [{ containerPort: 9090 }] }],
      },
    });
    expect(created.status).toBe(201);
    const st = await patchStatus(name, {
      phase: "Running",
      podIP: "10.42.7.9",
      conditions: [{ type: "Ready", status: "True" }],
      containerStatuses: [running("app")],
    });
    expect(st.status).toBe(200);
    return st.body;
  }

  it("makes the request on the pod's node and returns its answer", async () => {
    await registerNode("px-1");
    const agent = await dial("px-1");
    agents.push(agent);
    const pod = await servingPod("web", "px-1");
    const res = await api("GET", `/api/v1/namespaces/${NS}/pods/web:8080/proxy/a/b/?x=1`);
    expect(res.status).toBe(201);
    expect(res.headers.get("x-pod")).toBe("web");
    expect(res.headers.get("connection")).toBeNull();
    expect(await res.text()).toBe("GET 8080 /a/b/?x=1 ");
    const [asked] = agent.proxied;
    expect(asked.q).toMatchObject({ namespace: NS, pod: "web", uid: pod.metadata.uid });
    // The caller's credentials stay with the control plane.
    expect(asked.q.headers.some(([k]) => k.toLowerCase() === "authorization")).toBe(false);
    // No port: the pod's first declared one; a body goes along.
    const posted = await api("POST", `/api/v1/namespaces/${NS}/pods/web/proxy`, "ping", {
      "content-type": "text/plain",
    });
    expect(await posted.text()).toBe("POST 9090 / ping");
  });

  it("picks a ready endpoint of a Service, on the port the Service maps to", async () => {
    await registerNode("px-2");
    const agent = await dial("px-2");
    agents.push(agent);
    await servingPod("backend", "px-2");
    const svc = await call("POST", `/api/v1/namespaces/${NS}/services`, {
      metadata: { name: "front" },
      spec: { selector: { app: "proxied" }, ports: [{ name: "http", port: 80, targetPort: 9090 }] },
    });
    expect(svc.status).toBe(201);
    await eventually(async () => {
      const ep = await call("GET", `/api/v1/namespaces/${NS}/endpoints/front`);
      return ep.body.subsets?.[0]?.addresses?.length === 1;
    });
    for (const name of ["front:http", "front:80"]) {
      const res = await api("GET", `/api/v1/namespaces/${NS}/services/${name}/proxy/metrics`);
      expect(await res.text()).toBe("GET 9090 /metrics ");
    }
    const none = await call("POST", `/api/v1/namespaces/${NS}/services`, {
      metadata: { name: "empty" },
      spec: { selector: { app: "nobody" }, ports: [{ port: 80 }] },
    });
    expect(none.status).toBe(201);
    const unavailable = await call("GET", `/api/v1/namespaces/${NS}/services/empty/proxy/`);
    expect(unavailable.status).toBe(503);
    expect(unavailable.body.message).toBe('no endpoints available for service "empty"');
    for (const name of ["front", "empty"])
      await call("DELETE", `/api/v1/namespaces/${NS}/services/${name}`);
  });

  it("refuses what cannot be proxied", async () => {
    await registerNode("px-3");
    await boundPod("starting", undefined);
    const noIP = await call("GET", `/api/v1/namespaces/${NS}/pods/starting/proxy/`);
    expect(noIP.status).toBe(503);
    await servingPod("orphan", "px-3");
    const noAgent = await call("GET", `/api/v1/namespaces/${NS}/pods/orphan/proxy/`);
    expect(noAgent.status).toBe(503);
    expect(noAgent.body.message).toContain('no tunnel for node "px-3"');
    const tls = await call("GET", `/api/v1/namespaces/${NS}/pods/https:orphan:443/proxy/`);
    expect(tls.status).toBe(400);
    const port = await call("GET", `/api/v1/namespaces/${NS}/pods/orphan:http/proxy/`);
    expect(port.status).toBe(400);
    const big = await api(
      "POST",
      `/api/v1/namespaces/${NS}/pods/orphan/proxy/upload`,
      "x".repeat(4 * 1024 * 1024),
      { "content-type": "text/plain" },
    );
    expect(big.status).toBe(413);
  });
});
