import { describe, expect, it } from "vitest";
import { missingForNode, nodeNameOf } from "./local-node.ts";

describe("npm start's node name", () => {
  it("is the host name made a DNS-1123 subdomain", () => {
    expect(nodeNameOf("vm")).toBe("vm");
    expect(nodeNameOf("My_Laptop.Local")).toBe("my-laptop.local");
    expect(nodeNameOf("-build box-")).toBe("build-box");
    expect(nodeNameOf("___")).toBe("localhost");
  });
});

describe("npm start without containerd", () => {
  it("says what is missing and how to install it", () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      const why = missingForNode();
      expect(why).toContain("missing: containerd, ctr, runc, ip, nft");
      expect(why).toContain(
        "sudo apt-get install containerd runc containernetworking-plugins iproute2 nftables",
      );
    } finally {
      process.env.PATH = path;
    }
    // This machine (root, packages from scripts/install-deps.sh) can run the node.
    expect(missingForNode()).toBeUndefined();
  });
});
