import { describe, expect, it } from "vitest";
import { ConfigError } from "./env.ts";
import {
  heldCapabilities,
  needsImageUser,
  type SecurityOptions,
  securityArgs,
} from "./security-context.ts";

const pod = (c: any, podSc?: any) => ({
  metadata: { name: "p", namespace: "team", uid: "u-1" },
  spec: { securityContext: podSc, containers: [c] },
});
const opts = (imageUser?: string): SecurityOptions => ({
  imageUser,
  allCapabilities: () => ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"],
  seccompRoot: "/var/lib/agent/seccomp",
});
/** The flags for container securityContext `sc` (and pod securityContext `podSc`). */
const args = (sc: any, podSc?: any, imageUser?: string) => {
  const c = { name: "c", securityContext: sc };
  return securityArgs(pod(c, podSc), c, opts(imageUser));
};
/** The ConfigError message for the same, or "" when the flags were built. */
const refusal = (sc: any, podSc?: any, imageUser?: string) => {
  try {
    args(sc, podSc, imageUser);
    return "";
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
};
const flagged = (list: string[], flag: string) =>
  list.flatMap((a, i) => (list[i - 1] === flag ? [a] : []));

describe("securityContext as ctr flags", () => {
  it("without a securityContext only lifts ctr's no_new_privs, as Kubernetes sets none", () => {
    expect(args(undefined)).toEqual(["--allow-new-privs"]);
    expect(args({ allowPrivilegeEscalation: true })).toEqual(["--allow-new-privs"]);
    expect(args({ allowPrivilegeEscalation: false })).toEqual([]);
  });

  it("privileged implies escalation and drops capability and seccomp settings, as CRI does", () => {
    expect(
      args({
        privileged: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
        readOnlyRootFilesystem: true,
      }),
    ).toEqual(["--privileged", "--read-only", "--allow-new-privs"]);
  });

  it("readOnlyRootFilesystem makes the rootfs read-only", () => {
    expect(args({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false })).toEqual([
      "--read-only",
    ]);
  });

  it("names capabilities with the CAP_ prefix ctr wants, in either case", () => {
    const a = args({ capabilities: { add: ["net_admin", "CAP_SYS_TIME"], drop: ["CHOWN"] } });
    expect(flagged(a, "--cap-add")).toEqual(["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
    expect(flagged(a, "--cap-drop")).toEqual(["CAP_CHOWN"]);
  });

  it("drop ALL removes every capability but the named additions", () => {
    const a = args({ capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE", "KILL"] } });
    expect(flagged(a, "--cap-add")).toEqual(["CAP_NET_BIND_SERVICE", "CAP_KILL"]);
    const drops = flagged(a, "--cap-drop");
    expect(drops).toHaveLength(41 - 2);
    expect(drops).toEqual(expect.arrayContaining(["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_RAW"]));
    expect(drops).not.toContain("CAP_KILL");
    expect(a).not.toContain("CAP_ALL");
  });

  it("add ALL grants the capabilities the agent holds; named drops still apply", () => {
    const a = args({ capabilities: { add: ["ALL"], drop: ["SYS_ADMIN"] } });
    expect(flagged(a, "--cap-add")).toEqual(["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]);
    expect(flagged(a, "--cap-drop")).toEqual(["CAP_SYS_ADMIN"]);
  });

  it("a capability both added and dropped ends dropped", () => {
    const a = args({ capabilities: { drop: ["ALL", "NET_ADMIN"], add: ["NET_ADMIN"] } });
    expect(flagged(a, "--cap-add")).toEqual([]);
    expect(flagged(a, "--cap-drop")).toContain("CAP_NET_ADMIN");
  });

  it("maps seccompProfile types; the container's wins over the pod's", () => {
    expect(args({}, { seccompProfile: { type: "RuntimeDefault" } })).toContain("--seccomp");
    expect(
      args(
        { seccompProfile: { type: "Unconfined" } },
        { seccompProfile: { type: "RuntimeDefault" } },
      ),
    ).not.toContain("--seccomp");
    const local = { type: "Localhost", localhostProfile: "profiles/audit.json" };
    expect(args({ seccompProfile: local })).toEqual([
      "--seccomp",
      "--seccomp-profile",
      "/var/lib/agent/seccomp/profiles/audit.json",
      "--allow-new-privs",
    ]);
    for (const bad of ["", "/etc/x.json", "../x.json", "a/../../x.json"])
      expect(refusal({ seccompProfile: { type: "Localhost", localhostProfile: bad } })).toMatch(
        /localhostProfile relative to \/var\/lib\/agent\/seccomp/,
      );
  });

  it("refuses AppArmor profiles it cannot apply", () => {
    expect(refusal({}, { appArmorProfile: { type: "RuntimeDefault" } })).toMatch(
      /^appArmorProfile RuntimeDefault is not supported on this node/,
    );
    expect(refusal({ appArmorProfile: { type: "Unconfined" } })).toBe("");
  });
});

describe("runAsNonRoot and the process user", () => {
  const where = '(pod: "p_team(u-1)", container: c)';

  it("reads the image user only when the pod or container asks about users or groups", () => {
    const need = (sc: any, podSc?: any) =>
      needsImageUser(pod({ securityContext: sc }, podSc), {
        securityContext: sc,
      });
    expect(
      need({ readOnlyRootFilesystem: true }, { seccompProfile: { type: "RuntimeDefault" } }),
    ).toBe(false);
    expect(need({ runAsNonRoot: false })).toBe(false);
    expect(need({}, { runAsNonRoot: true })).toBe(true);
    expect(need({ runAsUser: 5 })).toBe(true);
    expect(need({}, { fsGroup: 5 })).toBe(false);
    expect(need({}, { supplementalGroups: [5] })).toBe(false);
  });

  it("refuses an image that runs as root, with the kubelet's message", () => {
    expect(refusal({ runAsNonRoot: true }, undefined, "")).toBe(
      `container has runAsNonRoot and image will run as root ${where}`,
    );
    expect(refusal({}, { runAsNonRoot: true }, "0:0")).toBe(
      `container has runAsNonRoot and image will run as root ${where}`,
    );
    expect(refusal({ runAsNonRoot: true }, undefined, "1000")).toBe("");
    expect(refusal({ runAsNonRoot: true }, undefined, "1000:1000")).toBe("");
  });

  it("refuses a non-numeric image user it cannot verify, and runAsUser 0", () => {
    expect(refusal({ runAsNonRoot: true }, undefined, "nobody")).toBe(
      `container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root ${where}`,
    );
    expect(refusal({ runAsNonRoot: true, runAsUser: 0 }, undefined, "")).toBe(
      `container's runAsUser breaks non-root policy ${where}`,
    );
  });

  it("the container's runAsNonRoot and runAsUser win over the pod's", () => {
    expect(refusal({ runAsNonRoot: false }, { runAsNonRoot: true }, "")).toBe("");
    expect(refusal({ runAsUser: 1000 }, { runAsNonRoot: true, runAsUser: 0 }, "1000")).toBe("");
    expect(refusal({ runAsUser: 0 }, { runAsNonRoot: true, runAsUser: 1000 }, "1000")).toMatch(
      /^container's runAsUser breaks non-root policy/,
    );
  });

  it("accepts runAsUser and runAsGroup only where the image runs that way anyway", () => {
    expect(refusal({ runAsUser: 1000, runAsGroup: 2000 }, undefined, "1000:2000")).toBe("");
    expect(refusal({}, { runAsUser: 0, runAsGroup: 0 }, "")).toBe("");
    expect(refusal({ runAsUser: 1000 }, undefined, "")).toBe(
      `runAsUser 1000 is not supported on this node: containerd 1.6's ctr cannot set the process user and the image runs as root; remove runAsUser or use an image whose USER is 1000 ${where}`,
    );
    expect(refusal({}, { runAsUser: 65534 }, "nobody")).toMatch(
      /^runAsUser 65534 is not supported on this node: .* the image runs as user "nobody"/,
    );
    // A numeric user without a group takes its group from the image's /etc/passwd: unknown here.
    expect(refusal({ runAsGroup: 1000 }, undefined, "1000")).toMatch(
      /^runAsGroup 1000 is not supported on this node: containerd 1.6's ctr cannot set the process group/,
    );
  });

  it("does not refuse fsGroup or supplementalGroups, which only add groups", () => {
    expect(refusal({}, { fsGroup: 2000 }, "")).toBe("");
    expect(refusal({}, { supplementalGroups: [0, 3000] }, "1000")).toBe("");
  });
});

describe("heldCapabilities", () => {
  it("names the bits of CapEff", () => {
    expect(heldCapabilities("CapInh:\t0000000000000000\nCapEff:\t00000040a8000001\n")).toEqual([
      "CAP_CHOWN",
      "CAP_MKNOD",
      "CAP_AUDIT_WRITE",
      "CAP_SETFCAP",
      "CAP_PERFMON",
    ]);
  });
});
