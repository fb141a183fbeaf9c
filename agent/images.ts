// Image pulls through `ctr image pull`, following imagePullPolicy and the registries config
// (mirrors tried first; plain HTTP and skip-verify per registry). Concurrent pulls of one image
// share a single ctr process.
import type { Containerd } from "./containerd.ts";
import {
  defaultPullPolicy,
  formatImage,
  parseImage,
  pullSources,
  type RegistryConfig,
} from "./registries.ts";

export class ImageError extends Error {
  /** ErrImagePull, ErrImageNeverPull or InvalidImageName. */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface PulledImage {
  /** Normalized reference containerd stores it under. */
  ref: string;
  /** repo@digest, reported as the container's imageID. */
  imageID: string;
  /** Milliseconds spent pulling, or undefined when the image was present. */
  pulledMs?: number;
}

export class Images {
  private readonly containerd: Containerd;
  private readonly registries: RegistryConfig;
  private readonly log: (msg: string) => void;
  private readonly inflight = new Map<string, Promise<void>>();
  /** ref → digest of images known present, so most starts need no `ctr images ls`. */
  private readonly present = new Map<string, string>();

  constructor(containerd: Containerd, registries: RegistryConfig, log: (msg: string) => void) {
    this.containerd = containerd;
    this.registries = registries;
    this.log = log;
  }

  /** Makes `image` present per `policy`; `onPull` is called before a pull starts. */
  async ensure(image: string, policy?: string, onPull?: () => void): Promise<PulledImage> {
    if (!image || /\s/.test(image))
      throw new ImageError("InvalidImageName", `invalid image name "${image}"`);
    const r = parseImage(image);
    const ref = formatImage(r);
    const effective = policy ?? defaultPullPolicy(image);
    let digest = this.present.get(ref);
    if (!digest || effective === "Always") digest = (await this.containerd.images()).get(ref);
    let pulledMs: number | undefined;
    if (!digest || effective === "Always") {
      if (effective === "Never")
        throw new ImageError(
          "ErrImageNeverPull",
          `Container image "${image}" is not present with pull policy of Never`,
        );
      onPull?.();
      const t0 = Date.now();
      await this.pull(image, ref);
      pulledMs = Date.now() - t0;
      digest = (await this.containerd.images()).get(ref);
      if (!digest) throw new ImageError("ErrImagePull", `image ${ref} missing after pull`);
    }
    this.present.set(ref, digest);
    return { ref, imageID: `${r.host}/${r.repo}@${digest}`, pulledMs };
  }

  /** Forget what is known of `image` (e.g. a run found it missing). */
  forget(image: string): void {
    this.present.delete(formatImage(parseImage(image)));
  }

  private pull(image: string, ref: string): Promise<void> {
    let p = this.inflight.get(ref);
    if (!p) {
      p = this.pullFrom(image, ref).finally(() => this.inflight.delete(ref));
      this.inflight.set(ref, p);
    }
    return p;
  }

  private async pullFrom(image: string, ref: string): Promise<void> {
    const errors: string[] = [];
    for (const src of pullSources(image, this.registries)) {
      const args = ["images", "pull"];
      if (src.plainHttp) args.push("--plain-http");
      if (src.skipVerify) args.push("--skip-verify");
      if (src.auth?.username)
        args.push("--user", `${src.auth.username}:${src.auth.password ?? ""}`);
      args.push(src.ref);
      const t0 = Date.now();
      this.log(`pulling image ${src.ref}${src.plainHttp ? " (plain HTTP)" : ""}`);
      const r = await this.containerd.ctr(args, 600_000);
      if (r.code !== 0) {
        const msg = (r.stderr.trim().split("\n").pop() ?? "").replace(/^ctr: /, "");
        this.log(`pull ${src.ref} failed: ${msg}`);
        errors.push(`${src.ref}: ${msg}`);
        continue;
      }
      if (src.ref !== ref) await this.containerd.ctrOk(["images", "tag", "--force", src.ref, ref]);
      this.log(`pulled image ${src.ref} in ${Date.now() - t0} ms`);
      return;
    }
    throw new ImageError(
      "ErrImagePull",
      `failed to pull and unpack image "${ref}": ${errors.join("; ")}`,
    );
  }
}
