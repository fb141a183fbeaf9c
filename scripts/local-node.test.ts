import { describe, expect, it } from "vitest";
import { nodeNameOf } from "./local-node.ts";

describe("npm start's node name", () => {
  it("is the host name made a DNS-1123 subdomain", () => {
    expect(nodeNameOf("vm")).toBe("vm");
    expect(nodeNameOf("My_Laptop.Local")).toBe("my-laptop.local");
    expect(nodeNameOf("-build box-")).toBe("build-box");
    expect(nodeNameOf("___")).toBe("localhost");
  });
});
