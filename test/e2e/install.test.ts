// install.sh as a user runs it: fetched from the control plane with curl and piped to sh. It
// refuses clearly when something is missing, and with everything in place downloads the agent
// and (with --no-systemd, or without systemd) becomes the agent, which joins the cluster.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJoinToken } from "../../scripts/local-node.ts";
import { type Cluster, eventually, root, startCluster } from "./cluster.ts";
import { type Containerd, installAgent, joinHost, startContainerd } from "./host.ts";
import { indexPage, startRegistry } from "./image.ts";

let cluster: Cluster;
let containerd: Containerd;
let script: string;
const tmp = mkdtempSync(join(tmpdir(), "kubeflare-install-"));
const installDir = join(tmp, "lib");
const binDir = join(tmp, "bin");

beforeAll(async () => {
  cluster = await startCluster();
  containerd = await startContainerd();
  // Exactly what `curl -sfkL <cp>/install.sh` gets.
  script = execFileSync("curl", ["-sfkL", `${cluster.server}/install.sh`], { encoding: "utf8" });
});

afterAll(async () => {
  await containerd?.stop();
  await cluster?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stderr: string;
}

/** `… | sh -s - args` with the served script on stdin. */
function start(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn("/bin/sh", ["-s", "-", ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, KUBEFLARE_INSTALL_DIR: installDir, KUBEFLARE_BIN_DIR: binDir, ...env },
  });
  child.stdin?.end(script);
  return child;
}

function install(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = start(args, env);
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

/** install.sh in a private mount namespace, after `setup` (shell) changed what it sees. */
function installPrivately(
  setup: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(
      "unshare",
      ["-m", "sh", "-c", `${setup} && exec sh -s - "$@"`, "sh", ...args],
      {
        stdio: ["pipe", "ignore", "pipe"],
        env: {
          ...process.env,
          KUBEFLARE_INSTALL_DIR: installDir,
          KUBEFLARE_BIN_DIR: binDir,
          ...env,
        },
      },
    );
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    child.stdin?.end(script);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

/** A PATH holding only these commands (linked from the real ones). */
function pathWith(name: string, commands: string[]): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const c of commands) {
    const real = c === "node" ? process.execPath : execFileSync("sh", ["-c", `command -v ${c}`]);
    symlinkSync(String(real).trim(), join(dir, c));
  }
  return dir;
}

const dataDir = join(tmp, "agent");
const base = ["--data-dir", dataDir, "--containerd-address"];

describe("install.sh refuses with a clear message", () => {
  it("without a join token", async () => {
    const r = await install(["--data-dir", dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("a join token is required: --token <token>");
    expect(r.stderr).toContain("npm run token -- create");
  });

  it("on an unknown option or a missing value", async () => {
    const r = await install(["--token", "abcdef.0123456789abcdef", "--frobnicate"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown option --frobnicate");
    expect((await install(["--token"])).stderr).toContain("--token needs a value");
  });

  it("without Node.js, or with one older than 20", async () => {
    const path = pathWith("no-node", ["id", "sed"]);
    const r = await install(["--token", "abcdef.0123456789abcdef", ...base, containerd.address], {
      PATH: path,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Node.js not found in PATH: install Node.js 20 or newer");

    const old = join(tmp, "node18");
    writeFileSync(old, "#!/bin/sh\necho v18.19.1\n", { mode: 0o755 });
    const r2 = await install(["--token", "abcdef.0123456789abcdef", ...base, containerd.address], {
      KUBEFLARE_NODE: old,
    });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(`Node.js v18.19.1 at ${old} is too old`);
  });

  it("without containerd's ctr on the PATH, or with containerd not answering", async () => {
    const path = pathWith("no-ctr", ["id", "sed", "node", "runc", "ip", "nft", "curl"]);
    const r = await install(["--token", "abcdef.0123456789abcdef", ...base, containerd.address], {
      PATH: path,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("containerd not found (no ctr in PATH): apt-get install containerd");

    const r2 = await install(["--token", "abcdef.0123456789abcdef", ...base, join(tmp, "none")]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(`containerd does not answer on ${join(tmp, "none")}`);
  });

  it("without the CNI plugins", async () => {
    // A private mount namespace where both plugin directories are empty.
    const empty = join(tmp, "empty");
    mkdirSync(empty, { recursive: true });
    const r = await installPrivately(
      `mount --bind ${empty} /usr/lib/cni && { [ ! -d /opt/cni/bin ] || mount --bind ${empty} /opt/cni/bin; }`,
      ["--token", "abcdef.0123456789abcdef", ...base, containerd.address],
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("CNI plugins (bridge, host-local, portmap, loopback) not found");
    expect(r.stderr).toContain("apt-get install containernetworking-plugins");
  });

  it("when the server is not reachable", async () => {
    const r = await install([
      "--token",
      "abcdef.0123456789abcdef",
      "--server",
      "https://127.0.0.1:1",
      ...base,
      containerd.address,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "could not download the agent from https://127.0.0.1:1/agent/kubeflare-agent.mjs",
    );
  });
});

describe("install.sh with everything in place", () => {
  it("installs a systemd unit (token kept apart, root only) and enables and restarts it", async () => {
    // systemd does not run here: /run/systemd/system appears in a private mount namespace and
    // systemctl records what it is asked; the unit itself goes through systemd-analyze verify.
    const bin = join(tmp, "systemd-bin");
    const calls = join(tmp, "systemctl.calls");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
    const unit = join(tmp, "unit", "kubeflare-agent.service");
    mkdirSync(join(tmp, "unit"), { recursive: true });
    const token = "abcdef.0123456789abcdef";
    const r = await installPrivately(
      "mount -t tmpfs none /run/systemd && mkdir /run/systemd/system",
      [
        ...["--token", token, "--node-name", "unit-test", ...base, containerd.address],
        "--insecure-skip-tls-verify",
      ],
      { PATH: `${bin}:${process.env.PATH}`, KUBEFLARE_UNIT_FILE: unit },
    );
    expect(r.stderr).toContain("kubeflare-agent is running as a systemd service");
    expect(r.code).toBe(0);
    expect(readFileSync(calls, "utf8")).toBe(
      "daemon-reload\nenable kubeflare-agent.service\nrestart kubeflare-agent.service\n",
    );
    const text = readFileSync(unit, "utf8");
    const execStart = /^ExecStart=(.*)$/m.exec(text)?.[1];
    expect(execStart).toBe(
      [
        `"${String(execFileSync("sh", ["-c", "command -v node"])).trim()}"`,
        `"${join(installDir, "kubeflare-agent.mjs")}"`,
        `"--server" "${cluster.server}"`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd expands it, not JS
        "--token ${KUBEFLARE_TOKEN}",
        `"--node-name" "unit-test"`,
        `"--data-dir" "${dataDir}"`,
        `"--containerd-address" "${containerd.address}"`,
        `"--insecure-skip-tls-verify"`,
      ].join(" "),
    );
    expect(text).not.toContain(token);
    expect(text).toMatch(/^Environment=MALLOC_ARENA_MAX=1$/m);
    expect(readFileSync(`${unit}.env`, "utf8")).toBe(`KUBEFLARE_TOKEN=${token}\n`);
    expect(statSync(`${unit}.env`).mode & 0o777).toBe(0o600);
    const verify = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
    expect(verify.stderr).toBe("");
    expect(verify.status).toBe(0);
  });

  it("downloads the agent and execs it; the host joins and its Node becomes Ready", async () => {
    const agent = installAgent({
      server: cluster.server,
      token: await createJoinToken(cluster.kubeconfig, "install.sh e2e"),
      nodeName: "install-test",
      dataDir,
      containerdAddress: containerd.address,
      installDir,
    });
    try {
      // The shell became the agent: same process, now node running the downloaded bundle.
      const cmdline = await eventually(() => {
        const args = readFileSync(`/proc/${agent.pid}/cmdline`, "utf8").split("\0");
        return args.includes(join(installDir, "kubeflare-agent.mjs")) && args;
      }, 20_000).catch((err) => {
        throw new Error(`${err}\n${agent.output()}`);
      });
      expect(cmdline).toContain("--node-name");
      // One malloc arena keeps the agent's native memory small after bursts.
      expect(readFileSync(`/proc/${agent.pid}/environ`, "utf8").split("\0")).toContain(
        "MALLOC_ARENA_MAX=1",
      );
      expect(readFileSync(join(installDir, "kubeflare-agent.mjs"))).toEqual(
        readFileSync(join(root, "public/agent/kubeflare-agent.mjs")),
      );
      const ready = await eventually(async () => {
        const r = await cluster.kubectlResult([
          "get",
          "node",
          "install-test",
          "-o",
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return r.stdout === "True" && r.stdout;
      }, 60_000).catch((err) => {
        throw new Error(`${err}\n${agent.output()}`);
      });
      expect(ready).toBe("True");
      expect(agent.output()).toContain("[kubeflare] downloading");
    } finally {
      await agent.stop();
    }
  });
});

/**
 * A host joined through install.sh, running the pod `pod` from the loopback registry; resolves
 * once the pod's IP serves its page. The caller stops the host and the registry.
 */
async function hostWithPod(nodeName: string, pod: string) {
  const registry = await startRegistry();
  const host = await joinHost({
    server: cluster.server,
    kubeconfig: cluster.kubeconfig,
    nodeName,
    registries: [registry.host],
  }).catch(async (err) => {
    await registry.stop();
    throw err;
  });
  try {
    await registry.push("v2");
    await cluster.kubectl([
      "run",
      pod,
      `--image=${registry.ref("v2")}`,
      `--overrides={"spec":{"nodeName":"${nodeName}"}}`,
    ]);
    const ip = await eventually(async () => {
      const out = await cluster.kubectl(["get", "pod", pod, "-o", "jsonpath={.status.podIP}"]);
      return out.trim();
    }, 60_000).catch(async (err) => {
      throw new Error(`${err}\n${await cluster.kubectl(["describe", "pod", pod])}`);
    });
    const page = await eventually(async () => {
      const res = await fetch(`http://${ip}/`);
      return res.ok && (await res.text());
    }, 20_000);
    const uid = await cluster.kubectl(["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"]);
    return { registry, host, ip, page, uid };
  } catch (err) {
    await host.stop();
    await registry.stop();
    throw err;
  }
}

describe("joinHost", () => {
  it("joins a host that pulls from the loopback registry and runs a pod; stop() leaves nothing", async () => {
    const { registry, host, page, uid } = await hostWithPod("harness-host", "page");
    const netns = `kubeflare-${uid}`;
    try {
      expect(page).toBe(indexPage("v2"));
      expect(existsSync(`/run/netns/${netns}`)).toBe(true);
    } finally {
      await host.stop();
      await registry.stop();
    }
    expect(existsSync(`/run/netns/${netns}`)).toBe(false);
    expect(existsSync(host.containerd.dir)).toBe(false);
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(host.containerd.dir);
    expect(execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })).not.toContain(
      host.containerd.dir,
    );
  });
});

describe("the scripts install.sh leaves on the host", () => {
  it("kubeflare-killall.sh removes the host's pods; kubeflare-agent-uninstall.sh removes the agent", async () => {
    const { registry, host, ip, page, uid } = await hostWithPod("killall-host", "doomed");
    const sh = (script: string) =>
      spawnSync("sh", [join(host.binDir, script)], { encoding: "utf8" });
    try {
      expect(page).toBe(indexPage("v2"));
      const ipam = join(host.dataDir, "cni", "networks", "kubeflare");
      expect(existsSync(join(ipam, ip))).toBe(true);

      // What `systemctl stop kubeflare-agent` does where systemd runs (the script calls it).
      await host.agent.stop();
      const killed = sh("kubeflare-killall.sh");
      expect(killed.stdout + killed.stderr).toContain(
        "removed 1 container(s) and 1 pod sandbox(es)",
      );
      expect(killed.status).toBe(0);
      expect(await host.containerd.ctr(["containers", "ls", "-q"])).toBe("");
      expect(await host.containerd.ctr(["tasks", "ls", "-q"])).toBe("");
      expect(existsSync(`/run/netns/kubeflare-${uid}`)).toBe(false);
      expect(existsSync(join(ipam, ip))).toBe(false);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(host.dataDir);
      // The control plane keeps the pod: a started agent runs it again.
      expect(await cluster.kubectl(["get", "pod", "doomed", "-o", "name"])).toContain("doomed");

      const removed = sh("kubeflare-agent-uninstall.sh");
      expect(removed.status).toBe(0);
      expect(removed.stderr).toContain("the agent is removed");
      expect(existsSync(host.bundle)).toBe(false);
      expect(existsSync(host.dataDir)).toBe(false);
      expect(existsSync(join(host.binDir, "kubeflare-killall.sh"))).toBe(false);
      expect(existsSync(join(host.binDir, "kubeflare-agent-uninstall.sh"))).toBe(false);
    } finally {
      await cluster.kubectl(["delete", "pod", "doomed", "--wait=false"]).catch(() => "");
      await host.stop();
      await registry.stop();
    }
  });
});
