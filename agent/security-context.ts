// A container's securityContext, with the pod's as fallback, as `ctr run` flags: what the kubelet
// and containerd's CRI plugin do, as far as containerd 1.6's ctr can express it.
//
// ctr 1.6 has no flag for the process user or groups (cmd/ctr/commands/run/run_unix.go, v1.6.20):
// the process runs as the image config's `User`. `--config` is no way out either: it takes the
// whole OCI spec from the file and skips the image, its snapshot and every other flag, so the
// agent would have to build specs and root filesystems itself. Hence runAsUser and runAsGroup are
// accepted only when the image runs that way anyway, and are otherwise a
// CreateContainerConfigError: never a container that silently runs as someone else (e.g. root).
// supplementalGroups and fsGroup would only add groups, so they are not refused (charts set
// fsGroup beside images that already run as the right user): the process does not get them, and
// fsGroup owns the pod's emptyDir volumes instead (volumes.ts), as the kubelet's does.
// seLinuxOptions and windowsOptions are ignored, as the kubelet does on a Linux host without
// SELinux.
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { ConfigError } from "./env.ts";

/** Linux capabilities by bit number (linux/capability.h, up to 40). */
// biome-ignore format: a table
const CAPABILITIES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
  "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
  "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
  "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
  "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
  "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
].map((c) => `CAP_${c}`);

/** Fields (of those applied) a container takes from the pod's securityContext if it lacks them. */
const POD_LEVEL = [
  "runAsUser",
  "runAsGroup",
  "runAsNonRoot",
  "seccompProfile",
  "appArmorProfile",
] as const;

export interface SecurityOptions {
  /** The image config's `User` ("" runs as root); read only when needsImageUser() says so. */
  imageUser?: string;
  /** What `capabilities.add: [ALL]` grants: the capabilities the agent holds, as CRI does. */
  allCapabilities(): string[];
  /** The directory a Localhost seccompProfile's localhostProfile is relative to. */
  seccompRoot: string;
}

/** The container's securityContext with the pod-level fields it does not set filled in. */
function effectiveSecurityContext(pod: any, c: any): any {
  const podSc = pod.spec?.securityContext ?? {};
  const sc = { ...(c.securityContext ?? {}) };
  for (const k of POD_LEVEL) sc[k] ??= podSc[k];
  return sc;
}

/** Whether securityArgs needs the image's user: only then is the image config read. */
export function needsImageUser(pod: any, c: any): boolean {
  return asksForIds(effectiveSecurityContext(pod, c));
}

/** Whether the effective `sc` asks for a user or group. */
function asksForIds(sc: any): boolean {
  return sc.runAsNonRoot === true || sc.runAsUser != null || sc.runAsGroup != null;
}

/** The capabilities of this process (CapEff of /proc/self/status), as ctr names them. */
export function heldCapabilities(status = readFileSync("/proc/self/status", "utf8")): string[] {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? "0";
  const bits = BigInt(`0x${hex}`);
  return CAPABILITIES.filter((_, i) => (bits >> BigInt(i)) & 1n);
}

/**
 * The `ctr run` flags for the container's securityContext; throws ConfigError for what cannot
 * be applied (shown as CreateContainerConfigError).
 */
export function securityArgs(pod: any, c: any, o: SecurityOptions): string[] {
  const sc = effectiveSecurityContext(pod, c);
  const where = `(pod: "${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})", container: ${c.name})`;
  checkUser(sc, o.imageUser, where);
  const apparmor = sc.appArmorProfile?.type;
  if (apparmor && apparmor !== "Unconfined")
    throw new ConfigError(
      `appArmorProfile ${apparmor} is not supported on this node: the agent applies no AppArmor profile ${where}`,
    );
  const args: string[] = [];
  const privileged = sc.privileged === true;
  // Privileged containers get every capability and no seccomp filter (CRI ignores both fields).
  if (privileged) args.push("--privileged");
  else args.push(...seccompArgs(sc.seccompProfile, o.seccompRoot, where), ...capArgs(sc, o));
  if (sc.readOnlyRootFilesystem) args.push("--read-only");
  // ctr sets no_new_privs by default; Kubernetes sets it only for allowPrivilegeEscalation: false.
  if (privileged || sc.allowPrivilegeEscalation !== false) args.push("--allow-new-privs");
  return args;
}

/** uid and gid the image's `User` runs as, where known without reading its /etc/passwd. */
function imageIds(user: string): { uid?: number; gid?: number; name: string } {
  if (user === "") return { uid: 0, gid: 0, name: "root" };
  const [u, g] = user.split(":");
  const num = (s: string | undefined) =>
    s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
  return { uid: num(u), gid: num(g), name: u };
}

/** runAsNonRoot as the kubelet verifies it (same messages), then the user and groups. */
function checkUser(sc: any, imageUser: string | undefined, where: string): void {
  if (!asksForIds(sc)) return;
  if (imageUser === undefined) throw new Error("securityArgs: the image user was not given");
  const img = imageIds(imageUser);
  if (sc.runAsNonRoot === true) {
    if (sc.runAsUser === 0)
      throw new ConfigError(`container's runAsUser breaks non-root policy ${where}`);
    if (sc.runAsUser == null && img.uid === undefined)
      throw new ConfigError(
        `container has runAsNonRoot and image has non-numeric user (${img.name}), cannot verify user is non-root ${where}`,
      );
    if (sc.runAsUser == null && img.uid === 0)
      throw new ConfigError(`container has runAsNonRoot and image will run as root ${where}`);
  }
  const runsAs = `the image runs as ${imageUser === "" ? "root" : `user "${imageUser}"`}`;
  if (sc.runAsUser != null && sc.runAsUser !== img.uid)
    throw new ConfigError(
      `runAsUser ${sc.runAsUser} is not supported on this node: containerd 1.6's ctr cannot set the process user and ${runsAs}; remove runAsUser or use an image whose USER is ${sc.runAsUser} ${where}`,
    );
  if (sc.runAsGroup != null && sc.runAsGroup !== img.gid)
    throw new ConfigError(
      `runAsGroup ${sc.runAsGroup} is not supported on this node: containerd 1.6's ctr cannot set the process group and ${runsAs}; remove runAsGroup or use an image whose USER is <uid>:${sc.runAsGroup} ${where}`,
    );
}

function seccompArgs(profile: any, root: string, where: string): string[] {
  switch (profile?.type) {
    case undefined:
    case "Unconfined":
      return [];
    case "RuntimeDefault":
      return ["--seccomp"];
    case "Localhost": {
      const rel = String(profile.localhostProfile ?? "");
      if (!rel || isAbsolute(rel) || rel.split("/").includes(".."))
        throw new ConfigError(
          `seccompProfile Localhost needs a localhostProfile relative to ${root} without "..", not "${rel}" ${where}`,
        );
      return ["--seccomp", "--seccomp-profile", join(root, rel)];
    }
    default:
      throw new ConfigError(`unknown seccompProfile type ${profile.type} ${where}`);
  }
}

/**
 * capabilities.add/drop as CRI applies them: add ALL grants every held capability, drop ALL
 * removes all, then the named ones are added and the named drops removed. ctr wants the CAP_
 * prefix and knows no ALL (a CAP_ALL is silently ignored), so ALL is spelled out; ctr applies
 * --cap-add before --cap-drop, the order above.
 */
function capArgs(sc: any, o: SecurityOptions): string[] {
  const names = (list: unknown[] | undefined) => (list ?? []).map((x) => String(x).toUpperCase());
  const add = names(sc.capabilities?.add);
  const drop = names(sc.capabilities?.drop);
  const prefixed = (list: string[]) =>
    list.filter((x) => x !== "ALL").map((x) => (x.startsWith("CAP_") ? x : `CAP_${x}`));
  let adds = prefixed(add);
  let drops = prefixed(drop);
  if (drop.includes("ALL")) {
    const keep = adds.filter((x) => !drops.includes(x));
    drops = CAPABILITIES.filter((x) => !keep.includes(x));
    adds = keep;
  } else if (add.includes("ALL")) adds = [...new Set([...o.allCapabilities(), ...adds])];
  return [...adds.flatMap((x) => ["--cap-add", x]), ...drops.flatMap((x) => ["--cap-drop", x])];
}
