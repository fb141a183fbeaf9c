import { describe, expect, it } from "vitest";
import { peersOf } from "./routes.ts";

const node = (name: string, podCIDR?: string, ip?: string) => ({
  metadata: { name },
  spec: podCIDR ? { podCIDR } : {},
  status: {
    addresses: [
      { type: "Hostname", address: name },
      ...(ip ? [{ type: "InternalIP", address: ip }] : []),
    ],
  },
});

describe("routes to the other hosts' pods", () => {
  it("names every other node's pod CIDR with its InternalIP, not this node's", () => {
    expect(
      peersOf(
        [
          node("me", "10.42.0.0/24", "192.0.2.1"),
          node("b", "10.42.2.0/24", "192.0.2.3"),
          node("a", "10.42.1.0/24", "192.0.2.2"),
          node("no-cidr", undefined, "192.0.2.4"),
          node("no-ip", "10.42.3.0/24"),
        ],
        "me",
      ),
    ).toEqual([
      { podCIDR: "10.42.1.0/24", nodeIP: "192.0.2.2" },
      { podCIDR: "10.42.2.0/24", nodeIP: "192.0.2.3" },
    ]);
  });
});
