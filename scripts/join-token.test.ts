import { describe, expect, it } from "vitest";
import {
  formatTable,
  newToken,
  parseCommand,
  parseTtl,
  TOKEN_RE,
  tokenRows,
  tokenSecret,
} from "./join-token.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("parseTtl", () => {
  it("reads Go durations in milliseconds", () => {
    expect(parseTtl("24h")).toBe(24 * 3600e3);
    expect(parseTtl("1h30m")).toBe(5400e3);
    expect(parseTtl("90s")).toBe(90e3);
    expect(parseTtl("1.5h")).toBe(5400e3);
    expect(parseTtl("2h45m30s")).toBe((2 * 3600 + 45 * 60 + 30) * 1000);
  });

  it("takes 0 for a token that never expires", () => {
    expect(parseTtl("0")).toBeUndefined();
  });

  it("refuses what is not a duration, or shorter than a second", () => {
    for (const bad of ["", "24", "1d", "h", "1h 30m", "-1h", "5x", "500ms", "1h-"])
      expect(() => parseTtl(bad), bad).toThrow(/invalid --ttl/);
  });
});

describe("parseCommand", () => {
  it("create defaults to a 24h TTL and an empty description", () => {
    expect(parseCommand(["create"])).toEqual({
      command: "create",
      kubeconfig: undefined,
      ttlMs: 24 * 3600e3,
      description: "",
    });
  });

  it("create takes --ttl, --description and --kubeconfig", () => {
    expect(
      parseCommand(["create", "--ttl", "0", "--description", "rack 4", "--kubeconfig", "/k"]),
    ).toEqual({ command: "create", kubeconfig: "/k", ttlMs: undefined, description: "rack 4" });
    expect(parseCommand(["create", "--ttl=30m"])).toMatchObject({ ttlMs: 30 * 60e3 });
  });

  it("list and delete", () => {
    expect(parseCommand(["list", "--kubeconfig", "/k"])).toEqual({
      command: "list",
      kubeconfig: "/k",
    });
    expect(parseCommand(["delete", "abcdef"])).toMatchObject({ command: "delete", id: "abcdef" });
    // The whole token names its id too.
    expect(parseCommand(["delete", "abcdef.0123456789abcdef"])).toMatchObject({ id: "abcdef" });
  });

  it("refuses unknown commands, options and stray arguments", () => {
    expect(() => parseCommand([])).toThrow(/missing command/);
    expect(() => parseCommand(["mint"])).toThrow(/unknown command "mint"/);
    expect(() => parseCommand(["create", "--colour", "red"])).toThrow(/--colour/);
    expect(() => parseCommand(["create", "extra"])).toThrow(/no arguments/);
    expect(() => parseCommand(["list", "--ttl", "1h"])).toThrow(/only for create/);
    expect(() => parseCommand(["delete"])).toThrow(/one token id/);
    expect(() => parseCommand(["delete", "ABCDEF"])).toThrow(/invalid token id/);
    expect(parseCommand(["--help"])).toEqual({ command: "help" });
  });
});

describe("tokens and their Secrets", () => {
  it("draws tokens of the bootstrap-token form, all different", () => {
    const tokens = Array.from({ length: 200 }, () => {
      const t = newToken();
      return `${t.id}.${t.secret}`;
    });
    for (const t of tokens) expect(t).toMatch(TOKEN_RE);
    expect(new Set(tokens).size).toBe(200);
  });

  it("stores a token as a bootstrap-token Secret in kube-system", () => {
    const now = Date.parse("2026-11-22T04:00:00.123Z");
    const s = tokenSecret(
      { id: "abcdef", secret: "0123456789abcdef" },
      { ttlMs: 3600e3, description: "d", now },
    );
    expect(s).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "bootstrap-token-abcdef", namespace: "kube-system" },
      type: "bootstrap.kubernetes.io/token",
      stringData: {
        "token-id": "abcdef",
        "token-secret": "0123456789abcdef",
        "usage-bootstrap-authentication": "true",
        description: "d",
        expiration: "2026-11-22T05:00:00Z",
      },
    });
    const forever = tokenSecret({ id: "abcdef", secret: "0123456789abcdef" }, {});
    expect(forever.stringData).not.toHaveProperty("expiration");
  });

  it("lists tokens by id with their expiry, marking expired ones", () => {
    const now = Date.parse("2026-11-22T04:00:00Z");
    const secret = (id: string, expiration?: string) => ({
      data: {
        "token-id": b64(id),
        description: b64(`token ${id}`),
        ...(expiration ? { expiration: b64(expiration) } : {}),
      },
    });
    const rows = tokenRows(
      [
        secret("zzzzzz", "2026-11-23T04:00:00Z"),
        secret("aaaaaa"),
        secret("mmmmmm", "2026-11-21T04:00:00Z"),
      ],
      now,
    );
    expect(rows).toEqual([
      { id: "aaaaaa", expires: "<never>", description: "token aaaaaa" },
      { id: "mmmmmm", expires: "2026-11-21T04:00:00Z (expired)", description: "token mmmmmm" },
      { id: "zzzzzz", expires: "2026-11-23T04:00:00Z", description: "token zzzzzz" },
    ]);
    expect(formatTable(["ID", "EXPIRES", "DESCRIPTION"], [["aaaaaa", "<never>", "x y"]])).toBe(
      "ID       EXPIRES   DESCRIPTION\naaaaaa   <never>   x y",
    );
  });
});
