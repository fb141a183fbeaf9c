// With DROP_POKES=1 no write wakes any controller: the resync sweep and each controller's own
// alarms must still bring every workload to its desired state.
import { describe, expect, it } from "vitest";
import { call, eventually } from "../worker/helpers.ts";
import { heartbeat, registerNode, syncPods } from "../worker/hollow.ts";

const NS = "/apis/apps/v1/namespaces/default";
const template = (app: string) => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: app, image: `registry.local/${app}:1` }] },
});

describe("convergence without pokes", () => {
  it("brings a Deployment, a Job, a DaemonSet, a StatefulSet, Endpoints and a PodDisruptionBudget to their desired state", async () => {
    await registerNode("n1");
    await registerNode("n2");
    await call("POST", `${NS}/deployments`, {
      metadata: { name: "web" },
      spec: { replicas: 3, selector: { matchLabels: { app: "web" } }, template: template("web") },
    });
    await call("POST", "/apis/batch/v1/namespaces/default/jobs", {
      metadata: { name: "once" },
      spec: {
        completions: 2,
        template: {
          ...template("once"),
          spec: { ...template("once").spec, restartPolicy: "Never" },
        },
      },
    });
    await call("POST", `${NS}/daemonsets`, {
      metadata: { name: "agent" },
      spec: { selector: { matchLabels: { app: "agent" } }, template: template("agent") },
    });
    await call("POST", `${NS}/statefulsets`, {
      metadata: { name: "db" },
      spec: {
        replicas: 2,
        serviceName: "db",
        selector: { matchLabels: { app: "db" } },
        template: template("db"),
      },
    });
    await call("POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets", {
      metadata: { name: "web" },
      spec: { minAvailable: 2, selector: { matchLabels: { app: "web" } } },
    });
    await call("POST", "/api/v1/namespaces/default/services", {
      metadata: { name: "web" },
      spec: { selector: { app: "web" }, ports: [{ port: 80 }] },
    });
    const jobPod = (p: any) =>
      p.metadata.labels?.["job-name"] === "once" ? ("Succeeded" as const) : undefined;
    await eventually(async () => {
      for (const n of ["n1", "n2"]) {
        await heartbeat(n);
        await syncPods(n, { outcome: jobPod });
      }
      const deploy = (await call("GET", `${NS}/deployments/web`)).body;
      const job = (await call("GET", "/apis/batch/v1/namespaces/default/jobs/once")).body;
      const ds = (await call("GET", `${NS}/daemonsets/agent`)).body;
      const sts = (await call("GET", `${NS}/statefulsets/db`)).body;
      const ep = (await call("GET", "/api/v1/namespaces/default/endpoints/web")).body;
      const pdb = (await call("GET", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web"))
        .body;
      return (
        deploy.status?.availableReplicas === 3 &&
        job.status?.conditions?.some((c: any) => c.type === "Complete" && c.status === "True") &&
        ds.status?.numberReady === 2 &&
        sts.status?.readyReplicas === 2 &&
        ep.subsets?.[0]?.addresses?.length === 3 &&
        pdb.status?.currentHealthy === 3 &&
        pdb.status?.disruptionsAllowed === 1
      );
    }, 60_000);
    const pods = (await call("GET", "/api/v1/namespaces/default/pods")).body.items;
    expect(pods.filter((p: any) => p.metadata.labels?.app === "web")).toHaveLength(3);
  }, 90_000);
});
