import { describe, expect, it } from "vitest";
import { renderProxyRules } from "./proxy.ts";

const svc = (name: string, spec: Record<string, unknown>) => ({
  metadata: { namespace: "shop", name },
  spec: { type: "ClusterIP", ...spec },
});
const slice = (service: string, ports: object[], endpoints: object[]) => ({
  metadata: {
    namespace: "shop",
    name: `${service}-x`,
    labels: { "kubernetes.io/service-name": service },
  },
  addressType: "IPv4",
  ports,
  endpoints,
});
const ep = (ip: string, ready = true) => ({ addresses: [ip], conditions: { ready } });
const rulesOf = (script: string, chain: string) =>
  script
    .split("\n")
    .filter((l) => l.startsWith(`add rule ip kubeflare ${chain} `))
    .map((l) => l.slice(`add rule ip kubeflare ${chain} `.length));

describe("the proxy's nftables rules", () => {
  it("sends a ClusterIP port to a random ready endpoint, matched by port name", () => {
    const script = renderProxyRules(
      [
        svc("web", {
          clusterIP: "10.43.0.20",
          ports: [
            { name: "http", port: 80, protocol: "TCP" },
            { name: "dns", port: 53, protocol: "UDP" },
          ],
        }),
      ],
      [
        slice(
          "web",
          [
            { name: "http", port: 8080, protocol: "TCP" },
            { name: "dns", port: 5353, protocol: "UDP" },
          ],
          [ep("10.42.0.6"), ep("10.42.0.5"), ep("10.42.0.7", false)],
        ),
      ],
      "10.42.0.0/24",
    );
    expect(rulesOf(script, "proxy-services")).toEqual([
      'ip daddr 10.43.0.20 tcp dport 80 dnat to numgen random mod 2 map { 0 : 10.42.0.5 . 8080, 1 : 10.42.0.6 . 8080 } comment "shop/web:http"',
      'ip daddr 10.43.0.20 udp dport 53 dnat to numgen random mod 2 map { 0 : 10.42.0.5 . 5353, 1 : 10.42.0.6 . 5353 } comment "shop/web:dns"',
    ]);
    expect(rulesOf(script, "proxy-postrouting")).toEqual([
      "ct status dnat ip saddr 10.42.0.0/24 ip daddr 10.42.0.0/24 masquerade",
    ]);
    // Every chain is emptied first, in the same transaction: the script is the whole truth.
    expect(script).toContain("flush chain ip kubeflare proxy-services\n");
  });

  it("rejects a port without ready endpoints; NodePorts answer on local addresses", () => {
    const script = renderProxyRules(
      [
        svc("empty", { clusterIP: "10.43.0.21", ports: [{ port: 80, protocol: "TCP" }] }),
        svc("exposed", {
          type: "NodePort",
          clusterIP: "10.43.0.22",
          ports: [{ port: 80, protocol: "TCP", nodePort: 30080 }],
        }),
        svc("headless", { clusterIP: "None", ports: [{ port: 80, protocol: "TCP" }] }),
        svc("alias", { type: "ExternalName", externalName: "example.org" }),
      ],
      [slice("exposed", [{ port: 8080, protocol: "TCP" }], [ep("10.42.0.9")])],
    );
    expect(rulesOf(script, "proxy-reject")).toEqual([
      'ip daddr 10.43.0.21 tcp dport 80 reject comment "shop/empty:80"',
    ]);
    expect(rulesOf(script, "proxy-services")).toEqual([
      'ip daddr 10.43.0.22 tcp dport 80 dnat to numgen random mod 1 map { 0 : 10.42.0.9 . 8080 } comment "shop/exposed:80"',
      "fib daddr type local jump proxy-nodeports",
    ]);
    expect(rulesOf(script, "proxy-nodeports")).toEqual([
      'tcp dport 30080 dnat to numgen random mod 1 map { 0 : 10.42.0.9 . 8080 } comment "shop/exposed:80"',
    ]);
    expect(script).not.toContain("headless");
    expect(script).not.toContain("alias");
  });

  it("sends the cluster DNS address to this host's DNS role, whatever kube-dns holds", () => {
    const script = renderProxyRules(
      [
        {
          ...svc("kube-dns", {
            clusterIP: "10.43.0.10",
            ports: [{ name: "dns", port: 53, protocol: "UDP" }],
          }),
          metadata: { namespace: "kube-system", name: "kube-dns" },
        },
      ],
      [],
      "10.42.0.0/24",
      { ip: "10.43.0.10", target: "10.42.0.1" },
    );
    expect(rulesOf(script, "proxy-services")).toEqual([
      'ip daddr 10.43.0.10 udp dport 53 dnat to 10.42.0.1:53 comment "cluster DNS"',
      'ip daddr 10.43.0.10 tcp dport 53 dnat to 10.42.0.1:53 comment "cluster DNS"',
    ]);
    expect(rulesOf(script, "proxy-reject")).toEqual([]);
    // It forwards any name: only this host's pods and the host itself may ask.
    expect(rulesOf(script, "proxy-input")).toContain(
      'ip daddr 10.42.0.1 meta l4proto { tcp, udp } th dport 53 ip saddr != 10.42.0.0/24 fib saddr type != local drop comment "cluster DNS: pods and this host only"',
    );
  });
});
