// metav1 owner reference helpers (GetControllerOf, IsControlledBy, NewControllerRef).

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface OwnedObject {
  metadata?: { ownerReferences?: OwnerReference[] | null } | null;
}

export interface OwnerObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; uid: string };
}

function ownerReferences(obj: OwnedObject): OwnerReference[] {
  return obj.metadata?.ownerReferences ?? [];
}

/** metav1.GetControllerOf: the reference marked controller, if any. */
export function controllerRef(obj: OwnedObject): OwnerReference | undefined {
  return ownerReferences(obj).find((r) => r.controller === true);
}

/** True when any owner reference points at `uid` (controller or not). */
export function isOwnedBy(obj: OwnedObject, uid: string): boolean {
  return ownerReferences(obj).some((r) => r.uid === uid);
}

/** metav1.IsControlledBy: the controller reference points at `uid`. */
export function isControlledBy(obj: OwnedObject, uid: string): boolean {
  return controllerRef(obj)?.uid === uid;
}

/**
 * metav1.NewControllerRef: what a controller stamps on objects it creates. blockOwnerDeletion
 * makes foreground deletion of the owner wait for them.
 */
export function newControllerRef(owner: OwnerObject): OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}
