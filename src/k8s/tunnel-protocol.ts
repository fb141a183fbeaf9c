// The wire protocol between a node's tunnel Durable Object and its agent (the full description
// is at the top of src/tunnel/node-tunnel.ts). Shared by both ends, so no runtime imports.

/** What `kubectl logs` asks for, as the kubelet's containerLogs endpoint takes it. */
export interface LogQuery {
  namespace: string;
  pod: string;
  uid: string;
  container: string;
  follow?: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  /** RFC 3339. */
  sinceTime?: string;
  timestamps?: boolean;
  previous?: boolean;
  limitBytes?: number;
}

/** What `kubectl exec` asks for: a command in a running container, with which streams. */
export interface ExecQuery {
  namespace: string;
  pod: string;
  uid: string;
  container: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/**
 * What `kubectl port-forward` asks for: a SPDY/3.1 session with a pod's ports; or, with `ports`,
 * the channel protocol of client libraries (v4.channel.k8s.io): for the i-th port, channel 2i
 * carries its data and 2i+1 its errors, each opening with the port number (2 bytes, little end).
 */
export interface PortForwardQuery {
  namespace: string;
  pod: string;
  uid: string;
  ports?: number[];
}

/**
 * What pods/proxy and services/proxy ask for: one HTTP request to a pod's IP, made by the agent
 * of the pod's node. The request body (bodyBytes long) follows in data frames.
 */
export interface ProxyQuery {
  namespace: string;
  pod: string;
  uid: string;
  port: number;
  method: string;
  /** Path and query, as the pod is to see them. */
  path: string;
  headers: [string, string][];
  bodyBytes: number;
}

/**
 * Exec streams carry the channels of Kubernetes' streaming protocol (v4/v5.channel.k8s.io) in
 * their data frames, as the payload's first byte: down 0 stdin, 4 resize, 255 close (v5: the next
 * byte names the channel the client closed); up 1 stdout, 2 stderr, 3 the final Status.
 */
export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;

/** Control plane → agent. */
export type DownFrame =
  | ({ type: "logs"; id: number } & LogQuery)
  | ({ type: "exec"; id: number } & ExecQuery)
  | ({ type: "portforward"; id: number } & PortForwardQuery)
  | ({ type: "proxy"; id: number } & ProxyQuery)
  | { type: "ack"; id: number; bytes: number }
  | { type: "cancel"; id: number };

/** Agent → control plane. */
export type UpFrame =
  /** A proxied request's response carries its status and headers; its body follows. */
  | { type: "start"; id: number; status?: number; headers?: [string, string][] }
  | { type: "error"; id: number; code: number; message: string }
  | { type: "end"; id: number };

/** Bytes of a stream's data the agent may send before the control plane acknowledges them. */
export const WINDOW_BYTES = 256 * 1024;
/** Largest payload of one data frame. */
export const MAX_CHUNK_BYTES = 64 * 1024;
/** Keep-alive text frames: the agent sends PING, the Durable Object answers PONG while asleep. */
export const PING = "ping";
export const PONG = "pong";

/** A data frame: the stream id as 4 bytes big-endian, then the payload. */
export function dataFrame(id: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength);
  new DataView(out.buffer).setUint32(0, id);
  out.set(payload, 4);
  return out;
}

export function parseDataFrame(frame: ArrayBuffer | Uint8Array): { id: number; data: Uint8Array } {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (bytes.byteLength < 4) throw new Error("data frame shorter than its stream id");
  const id = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
  return { id, data: bytes.subarray(4) };
}
