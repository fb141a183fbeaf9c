// Placeholder until the pod workers land.
import type { Api } from "./api.ts";
import type { Containerd } from "./containerd.ts";
import type { RegistryConfig } from "./registries.ts";

export interface PodManagerOptions {
  api: Api;
  containerd: Containerd;
  nodeName: string;
  dataDir: string;
  podCIDR?: string;
  hostIP: string;
  registries: RegistryConfig;
  log: (msg: string) => void;
}

export class PodManager {
  readonly opts: PodManagerOptions;
  constructor(opts: PodManagerOptions) {
    this.opts = opts;
  }
  async start(): Promise<void> {}
  stop(): void {}
}
