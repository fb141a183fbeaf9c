import { describe, expect, it } from "vitest";
import { controllerRef, isControlledBy, isOwnedBy, newControllerRef } from "./owner-refs.ts";

const rs = {
  apiVersion: "apps/v1",
  kind: "ReplicaSet",
  metadata: { name: "web-abc", uid: "uid-rs" },
};

describe("owner references", () => {
  it("newControllerRef marks controller and blockOwnerDeletion", () => {
    expect(newControllerRef(rs)).toEqual({
      apiVersion: "apps/v1",
      kind: "ReplicaSet",
      name: "web-abc",
      uid: "uid-rs",
      controller: true,
      blockOwnerDeletion: true,
    });
  });

  it("finds the controller among owners", () => {
    const pod = {
      metadata: {
        ownerReferences: [
          { apiVersion: "v1", kind: "ConfigMap", name: "cm", uid: "uid-cm" },
          newControllerRef(rs),
        ],
      },
    };
    expect(controllerRef(pod)?.uid).toBe("uid-rs");
    expect(isOwnedBy(pod, "uid-cm")).toBe(true);
    expect(isOwnedBy(pod, "uid-rs")).toBe(true);
    expect(isOwnedBy(pod, "other")).toBe(false);
    expect(isControlledBy(pod, "uid-rs")).toBe(true);
    expect(isControlledBy(pod, "uid-cm")).toBe(false);
  });

  it("copes with missing metadata", () => {
    expect(controllerRef({})).toBeUndefined();
    expect(controllerRef({ metadata: { ownerReferences: null } })).toBeUndefined();
    expect(isOwnedBy({ metadata: null }, "x")).toBe(false);
  });
});
