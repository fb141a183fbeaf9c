import { describe, expect, it } from "vitest";
import { hostPorts, hostsFile, podHostname, resolvConf } from "./sandbox.ts";

const pod = (spec: any = {}) => ({
  metadata: { name: "web-1", namespace: "shop" },
  spec: { containers: [], ...spec },
});

describe("pod /etc files", () => {
  it("hosts maps the pod's name (and FQDN with a subdomain) to its IP, plus hostAliases", () => {
    expect(hostsFile(pod(), "10.42.0.9")).toMatch(/\n10\.42\.0\.9\tweb-1\n$/);
    const h = hostsFile(
      pod({
        hostname: "db",
        subdomain: "dbs",
        hostAliases: [{ ip: "1.2.3.4", hostnames: ["a", "b"] }],
      }),
      "10.42.0.9",
    );
    expect(h).toContain("10.42.0.9\tdb.dbs.shop.svc.cluster.local\tdb\n");
    expect(h).toContain("# Entries added by HostAliases.\n1.2.3.4\ta\tb\n");
    expect(h.startsWith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")).toBe(true);
    expect(podHostname(pod({ hostname: "db" }))).toBe("db");
  });

  it("resolv.conf points ClusterFirst pods at cluster DNS with the namespace's search path", () => {
    expect(resolvConf(pod(), "nameserver 9.9.9.9\n")).toBe(
      "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.43.0.10\noptions ndots:5\n",
    ); // The address the control plane gave kube-dns, in a cluster with another service range.
    expect(resolvConf(pod(), "", "10.96.0.10")).toContain("nameserver 10.96.0.10\n");
  });

  it("resolv.conf follows dnsPolicy Default (the host's) and None with dnsConfig", () => {
    expect(resolvConf(pod({ dnsPolicy: "Default" }), "nameserver 9.9.9.9\nsearch lan\n")).toBe(
      "search lan\nnameserver 9.9.9.9\n",
    );
    const none = pod({
      dnsPolicy: "None",
      dnsConfig: {
        nameservers: ["1.1.1.1"],
        searches: ["x"],
        options: [{ name: "ndots", value: "2" }, { name: "edns0" }],
      },
    });
    expect(resolvConf(none, "")).toBe("search x\nnameserver 1.1.1.1\noptions ndots:2 edns0\n");
  });

  it("collects hostPort mappings for portmap", () => {
    const p = pod({
      containers: [
        {
          ports: [
            { containerPort: 80, hostPort: 8080 },
            { containerPort: 53, hostPort: 53, protocol: "UDP" },
            { containerPort: 9 },
          ],
        },
      ],
    });
    expect(hostPorts(p)).toEqual([
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
      { hostPort: 53, containerPort: 53, protocol: "udp" },
    ]);
  });
});
