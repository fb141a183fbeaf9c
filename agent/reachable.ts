// Whether something accepts a connection within a time: a TCP port (the tcpSocket probe) or a
// unix socket (containerd's).
import { connect, type NetConnectOpts } from "node:net";

export function reachable(to: NetConnectOpts | string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(typeof to === "string" ? { path: to } : to);
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on("connect", () => done(true));
    sock.on("error", () => done(false));
  });
}
