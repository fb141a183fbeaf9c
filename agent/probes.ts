// Liveness, readiness and startup probes of one container: httpGet, tcpSocket and grpc against
// the pod IP, exec inside the container; initial delay, period, timeout and thresholds as in
// Kubernetes. Startup gates the other two.
import { request as httpRequest } from "node:http";
import { connect as http2Connect } from "node:http2";
import { request as httpsRequest } from "node:https";
import { reachable } from "./reachable.ts";

export type ProbeKind = "liveness" | "readiness" | "startup";

export interface ProbeTarget {
  podIP: string;
  container: any;
  /** Runs a command in the container: exit code 0 is success. */
  exec(cmd: string[], timeoutMs: number): Promise<boolean>;
}

function port(container: any, p: number | string): number {
  if (typeof p === "number") return p;
  if (/^\d+$/.test(p)) return Number(p);
  const named = (container.ports ?? []).find((x: any) => x.name === p);
  if (!named) throw new Error(`port ${p} not found`);
  return named.containerPort;
}

/** One probe attempt: resolves true on success, false on failure or timeout. */
export async function probeOnce(probe: any, t: ProbeTarget): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.exec) return await t.exec(probe.exec.command ?? [], timeoutMs);
    if (probe.tcpSocket) {
      const host = probe.tcpSocket.host || t.podIP;
      const p = port(t.container, probe.tcpSocket.port);
      return await reachable({ host, port: p }, timeoutMs);
    }
    if (probe.httpGet) {
      const g = probe.httpGet;
      const https = String(g.scheme ?? "HTTP").toUpperCase() === "HTTPS";
      const headers: Record<string, string> = { "user-agent": "kube-probe/1.32" };
      for (const h of g.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
      const opts = {
        host: g.host || t.podIP,
        port: port(t.container, g.port),
        path: g.path || "/",
        headers,
        rejectUnauthorized: false,
        agent: false as const,
      };
      return await new Promise<boolean>((resolve) => {
        const req = (https ? httpsRequest : httpRequest)(opts, (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          resolve(code >= 200 && code < 400);
        });
        req.setTimeout(timeoutMs, () => {
          req.destroy();
          resolve(false);
        });
        req.on("error", () => resolve(false));
        req.end();
      });
    }
    if (probe.grpc)
      return await grpcServing(
        t.podIP,
        port(t.container, probe.grpc.port),
        probe.grpc.service ?? "",
        timeoutMs,
      );
    return false;
  } catch {
    return false;
  }
}

/** A protobuf varint, for the one length a HealthCheckRequest has. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/**
 * The gRPC health check (grpc.health.v1.Health/Check) over plaintext HTTP/2, as the kubelet's
 * grpc probe makes it: success only for grpc-status 0 and a response saying SERVING.
 */
function grpcServing(host: string, port: number, service: string, timeoutMs: number) {
  return new Promise<boolean>((resolve) => {
    const client = http2Connect(`http://${host}:${port}`);
    let settled = false;
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on("error", () => done(false));
    // HealthCheckRequest { string service = 1; } in a length-prefixed, uncompressed gRPC frame.
    const name = Buffer.from(service, "utf8");
    const message = name.length
      ? Buffer.from([0x0a, ...varint(name.length), ...name])
      : Buffer.alloc(0);
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    message.copy(frame, 5);
    const req = client.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
      "user-agent": "kube-probe/1.32",
    });
    let status: unknown;
    const chunks: Buffer[] = [];
    req.on("response", (h) => {
      status ??= h["grpc-status"];
    });
    req.on("trailers", (h) => {
      status = h["grpc-status"];
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => done(false));
    req.on("end", () => {
      // HealthCheckResponse { ServingStatus status = 1; }: SERVING is 1, encoded 0x08 0x01.
      const body = Buffer.concat(chunks);
      const length = body.length >= 5 ? body.readUInt32BE(1) : -1;
      const reply = body.subarray(5, 5 + Math.max(0, length));
      const serving = reply.length === 2 && reply[0] === 0x08 && reply[1] === 1;
      done(String(status) === "0" && serving);
    });
    req.end(frame);
  });
}

export interface ProbeEvents {
  /** Liveness failed failureThreshold times: the container must be restarted. */
  onLivenessFailure(message: string): void;
  /** readiness or startup result changed. */
  onChange(): void;
}

/** The probes of one running container. */
export class ContainerProbes {
  ready: boolean;
  started: boolean;
  private readonly timers = new Map<ProbeKind, NodeJS.Timeout>();
  private stopped = false;
  private readonly spec: any;
  private readonly target: ProbeTarget;
  private readonly events: ProbeEvents;

  constructor(target: ProbeTarget, events: ProbeEvents) {
    this.spec = target.container;
    this.target = target;
    this.events = events;
    this.started = !this.spec.startupProbe;
    this.ready = !this.spec.readinessProbe && this.started;
  }

  start(): void {
    if (this.spec.startupProbe) this.loop("startup", this.spec.startupProbe);
    else this.startOthers();
  }

  private startOthers() {
    if (this.spec.readinessProbe) this.loop("readiness", this.spec.readinessProbe);
    else if (!this.ready) {
      this.ready = true;
      this.events.onChange();
    }
    if (this.spec.livenessProbe) this.loop("liveness", this.spec.livenessProbe);
  }

  private loop(kind: ProbeKind, probe: any) {
    const period = (probe.periodSeconds ?? 10) * 1000;
    const successes = probe.successThreshold ?? 1;
    const failures = probe.failureThreshold ?? 3;
    let ok = 0;
    let bad = 0;
    const tick = async () => {
      if (this.stopped) return;
      const pass = await probeOnce(probe, this.target);
      if (this.stopped) return;
      if (pass) {
        ok++;
        bad = 0;
      } else {
        bad++;
        ok = 0;
      }
      if (kind === "startup") {
        if (pass) {
          this.started = true;
          this.events.onChange();
          this.startOthers();
          return;
        }
        if (bad >= failures) {
          this.events.onLivenessFailure(`Startup probe failed ${bad} times`);
          return;
        }
      } else if (kind === "readiness") {
        if (pass && ok >= successes && !this.ready) {
          this.ready = true;
          this.events.onChange();
        } else if (!pass && bad >= failures && this.ready) {
          this.ready = false;
          this.events.onChange();
        }
      } else if (!pass && bad >= failures) {
        this.events.onLivenessFailure(`Liveness probe failed ${bad} times`);
        return;
      }
      this.timers.set(kind, setTimeout(tick, period));
    };
    this.timers.set(kind, setTimeout(tick, (probe.initialDelaySeconds ?? 0) * 1000));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
  }
}
