// The host harness itself: the test image, the loopback registry, a containerd of our own that
// pulls and runs the image, and a cleanup that leaves no process, mount or network object behind.
import { execFileSync, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { Cni, netnsName } from "../../agent/cni.ts";
import { run } from "../../scripts/run.ts";
import {
  agentNetns,
  agentNftTables,
  bridgeExists,
  bridgePorts,
  type Containerd,
  cleanupNetwork,
  mountsUnder,
  NETNS_PREFIX,
  NFT_TABLE,
  startAgent,
  startContainerd,
  writeRegistries,
} from "./host.ts";
import { buildImage, indexPage, type Registry, startRegistry } from "./image.ts";

/** Running (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}
const tmp = mkdtempSync(join(tmpdir(), "kubeflare-host-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("test image and registry", () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(() => registry?.stop());

  it("builds the same image twice to the same digest, and tags differ", () => {
    const a = buildImage(join(tmp, "a"), "v1");
    const b = buildImage(join(tmp, "b"), "v1");
    const c = buildImage(join(tmp, "a"), "v2");
    expect(a.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.digest).toBe(a.digest);
    expect(c.digest).not.toBe(a.digest);
  });

  it("pushes v1 and v2; the registry serves their manifests over plain HTTP", async () => {
    await registry.push("v1");
    await registry.push("v2");
    const inspect = (tag: string) =>
      JSON.parse(
        execFileSync("skopeo", ["inspect", "--tls-verify=false", `docker://${registry.ref(tag)}`], {
          encoding: "utf8",
        }),
      );
    const v1 = inspect("v1");
    expect(v1.RepoTags.sort()).toEqual(["v1", "v2"]);
    expect(v1.Env).toContain("IMAGE_TAG=v1");
    expect(v1.Digest).toBe(buildImage(join(tmp, "c"), "v1").digest);
    expect(inspect("v2").Env).toContain("IMAGE_TAG=v2");
  });
});

describe("containerd of the test's own", () => {
  let registry: Registry;
  let containerd: Containerd;
  beforeAll(async () => {
    registry = await startRegistry();
    await registry.push("v1");
    await registry.push("v2");
    containerd = await startContainerd();
  });
  afterAll(async () => {
    await containerd?.stop();
    await registry?.stop();
  });

  it("pulls the pushed image over plain HTTP and runs busybox in it", async () => {
    for (const tag of ["v1", "v2"]) {
      await containerd.ctr(["image", "pull", "--plain-http", registry.ref(tag)]);
    }
    const echo = await containerd.ctr(["run", "--rm", registry.ref("v1"), "echo-1", "echo", "hi"]);
    expect(echo).toBe("hi\n");
    for (const tag of ["v1", "v2"]) {
      const page = await containerd.ctr([
        "run",
        "--rm",
        registry.ref(tag),
        `page-${tag}`,
        "cat",
        "/www/index.html",
      ]);
      expect(page).toBe(indexPage(tag));
    }
  });

  it("stop() removes containers, tasks, shims, mounts and its directory", async () => {
    await containerd.ctr(["run", "-d", registry.ref("v1"), "sleeper", "sleep", "1000"]);
    const tasks = await containerd.ctr(["tasks", "ls"]);
    const pid = Number(/sleeper\s+(\d+)\s+RUNNING/.exec(tasks)?.[1]);
    expect(alive(pid)).toBe(true);
    const shims = execFileSync("pgrep", ["-f", containerd.address], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number);
    expect(shims.length).toBeGreaterThan(0);
    expect(mountsUnder(containerd.dir).length).toBeGreaterThan(0);

    await containerd.stop();
    expect(alive(pid)).toBe(false);
    expect(alive(containerd.pid)).toBe(false);
    expect(shims.filter(alive)).toEqual([]);
    expect(mountsUnder(containerd.dir)).toEqual([]);
    expect(existsSync(containerd.dir)).toBe(false);
  });
});

describe("agent network cleanup", () => {
  it("masquerades what pods send beyond the podCIDR, with one nftables rule however often agents start", async () => {
    const podCIDR = "10.42.253.0/24";
    const uids = [randomUUID(), randomUUID()];
    // A network of the test's own beyond the node, with no route back to the pods.
    const tag = randomUUID().slice(0, 6);
    const remote = `kfmasq-${tag}`;
    const link = `kfmq${tag}`;
    const ip = (...args: string[]) => run("ip", args, { quiet: true });
    let server: ReturnType<typeof spawn> | undefined;
    try {
      await ip("netns", "add", remote);
      await ip(
        "link",
        "add",
        `${link}h`,
        "type",
        "veth",
        "peer",
        "name",
        `${link}n`,
        "netns",
        remote,
      );
      await ip("addr", "add", "198.18.7.1/30", "dev", `${link}h`);
      await ip("link", "set", `${link}h`, "up");
      await ip("-n", remote, "addr", "add", "198.18.7.2/30", "dev", `${link}n`);
      await ip("-n", remote, "link", "set", `${link}n`, "up");
      // Two agents' worth of starts with the same podCIDR (a restart reads the same data dir).
      for (const uid of uids) await new Cni(join(tmp, "masq-agent"), podCIDR).setUp(uid, []);
      const table = await run("nft", ["list", "table", "ip", NFT_TABLE], { quiet: true });
      expect(table.match(/masquerade/g)?.length).toBe(1);
      expect(table).toContain(`ip saddr ${podCIDR}`);
      // No per-pod masquerade chains in iptables any more.
      expect(await run("iptables-save", ["-t", "nat"], { quiet: true })).not.toContain(uids[0]);

      let received = "";
      server = spawn("ip", ["netns", "exec", remote, "/bin/busybox", "nc", "-l", "-p", "8080"]);
      server.stdout?.on("data", (d) => {
        received += d;
      });
      await new Promise((r) => setTimeout(r, 300));
      // Only a masqueraded connection gets its answers back: the remote side knows no pod route.
      await run("ip", [
        ...["netns", "exec", netnsName(uids[0]), "/bin/busybox", "sh", "-c"],
        "echo from-the-pod | /bin/busybox nc -w 3 198.18.7.2 8080",
      ]);
      await new Promise((r) => setTimeout(r, 300));
      expect(received).toContain("from-the-pod");
    } finally {
      if (server?.pid) server.kill("SIGKILL");
      await ip("netns", "delete", remote).catch(() => {});
      for (const uid of uids)
        await new Cni(join(tmp, "masq-agent"), podCIDR).tearDown(uid).catch(() => {});
      await cleanupNetwork(join(tmp, "masq-agent"));
    }
  });

  it("tears down this agent's sandboxes (netns, IP, veth, NAT rules), not another's", async () => {
    const dataDir = join(tmp, "net-agent");
    const uid = randomUUID();
    const cni = new Cni(dataDir, "10.42.254.0/24");
    const ip = await cni.setUp(uid, [{ hostPort: 30999, containerPort: 80, protocol: "TCP" }]);
    const foreign = `${NETNS_PREFIX}${randomUUID()}`;
    await run("ip", ["netns", "add", foreign], { quiet: true });
    const nat = () => run("iptables-save", ["-t", "nat"], { quiet: true });
    try {
      expect(ip).toMatch(/^10\.42\.254\.\d+$/);
      expect(await agentNetns()).toEqual(expect.arrayContaining([netnsName(uid), foreign]));
      expect(await nat()).toContain(uid);
      expect(existsSync(join(dataDir, "cni/networks/kubeflare", ip))).toBe(true);
      const portsBefore = await bridgePorts();
      expect(portsBefore.length).toBeGreaterThan(0);
      await run("nft", ["add", "table", "inet", NFT_TABLE], { quiet: true });

      await cleanupNetwork(dataDir);
      const netns = await agentNetns();
      expect(netns).not.toContain(netnsName(uid));
      expect(netns).toContain(foreign);
      expect(await nat()).not.toContain(uid);
      expect(existsSync(join(dataDir, "cni/networks/kubeflare", ip))).toBe(false);
      const portsAfter = await bridgePorts();
      expect(portsAfter.length).toBe(portsBefore.length - 1);
      // The bridge and the table are shared: they go only with the last pod on this machine.
      expect(await bridgeExists()).toBe(portsAfter.length > 0);
      expect((await agentNftTables()).length > 0).toBe(portsAfter.length > 0);
    } finally {
      await run("ip", ["netns", "delete", foreign], { quiet: true });
      await cni.tearDown(uid).catch(() => {});
    }
  });
});

describe("registries.yaml", () => {
  it("marks each registry as a plain-HTTP endpoint, k3s style", () => {
    const path = writeRegistries(join(tmp, "registries.yaml"), [
      "127.0.0.1:5001",
      "127.0.0.1:5002",
    ]);
    expect(parse(readFileSync(path, "utf8"))).toEqual({
      mirrors: {
        "127.0.0.1:5001": { endpoint: ["http://127.0.0.1:5001"] },
        "127.0.0.1:5002": { endpoint: ["http://127.0.0.1:5002"] },
      },
    });
  });
});

describe("agent process", () => {
  // A stand-in that records its command line and starts a child, as the agent starts ctr.
  const bundle = join(tmp, "fake-agent.mjs");
  writeFileSync(
    bundle,
    `import { spawn } from "node:child_process";
process.on("SIGTERM", () => { console.log("terminating"); process.exit(0); });
const child = spawn("sleep", ["1000"], { stdio: "ignore" });
console.log("args " + JSON.stringify(process.argv.slice(2)));
console.log("child " + child.pid);
setInterval(() => {}, 1000);
`,
  );

  it("passes the command line and stop() ends the agent and its children", async () => {
    const agent = startAgent({
      bundle,
      server: "https://127.0.0.1:1",
      token: "abcdef.0123456789abcdef",
      nodeName: "host-1",
      dataDir: join(tmp, "agent"),
      containerdAddress: "/run/x.sock",
      registries: join(tmp, "registries.yaml"),
    });
    const child = Number((await agent.waitFor(/child (\d+)/)).split(" ")[1]);
    expect(JSON.parse(/args (.*)/.exec(agent.output())?.[1] ?? "")).toEqual([
      "--server",
      "https://127.0.0.1:1",
      "--token",
      "abcdef.0123456789abcdef",
      "--node-name",
      "host-1",
      "--data-dir",
      join(tmp, "agent"),
      "--containerd-address",
      "/run/x.sock",
      "--insecure-skip-tls-verify",
      "--registries",
      join(tmp, "registries.yaml"),
    ]);
    expect(alive(child)).toBe(true);
    await agent.stop();
    expect(agent.output()).toContain("terminating");
    expect(await agent.exited).toBe(0);
    expect(alive(agent.pid)).toBe(false);
    expect(alive(child)).toBe(false);
  });

  it("kill() ends it at once", async () => {
    const agent = startAgent({
      bundle,
      server: "https://127.0.0.1:1",
      nodeName: "host-1",
      dataDir: join(tmp, "agent"),
      containerdAddress: "/run/x.sock",
    });
    await agent.waitFor(/child \d+/);
    await agent.kill();
    expect(await agent.exited).toBe("SIGKILL");
    expect(agent.output()).not.toContain("terminating");
  });
});
