import type { WatchHub } from "./api/watch-hub.ts";
import type { CronJobController } from "./controllers/cronjob.ts";
import type { DaemonSetController } from "./controllers/daemonset.ts";
import type { DeploymentController } from "./controllers/deployment.ts";
import type { DisruptionController } from "./controllers/disruption.ts";
import type { EndpointsController } from "./controllers/endpoints.ts";
import type { GarbageCollector } from "./controllers/garbage-collector.ts";
import type { JobController } from "./controllers/job.ts";
import type { NamespaceLifecycle } from "./controllers/namespace-lifecycle.ts";
import type { NodeLifecycle } from "./controllers/node-lifecycle.ts";
import type { ReplicaSetController } from "./controllers/replicaset.ts";
import type { Resync } from "./controllers/resync.ts";
import type { Scheduler } from "./controllers/scheduler.ts";
import type { StatefulSetController } from "./controllers/statefulset.ts";
import type { NodeTunnel } from "./tunnel/node-tunnel.ts";

export interface Env {
  DB: D1Database;
  ASSETS: Fetcher;
  WATCH_HUB: DurableObjectNamespace<WatchHub>;
  GARBAGE_COLLECTOR: DurableObjectNamespace<GarbageCollector>;
  NAMESPACE_LIFECYCLE: DurableObjectNamespace<NamespaceLifecycle>;
  RESYNC: DurableObjectNamespace<Resync>;
  REPLICASET: DurableObjectNamespace<ReplicaSetController>;
  DEPLOYMENT: DurableObjectNamespace<DeploymentController>;
  STATEFULSET: DurableObjectNamespace<StatefulSetController>;
  DAEMONSET: DurableObjectNamespace<DaemonSetController>;
  JOB: DurableObjectNamespace<JobController>;
  CRONJOB: DurableObjectNamespace<CronJobController>;
  SCHEDULER: DurableObjectNamespace<Scheduler>;
  NODE_LIFECYCLE: DurableObjectNamespace<NodeLifecycle>;
  ENDPOINTS: DurableObjectNamespace<EndpointsController>;
  /** One per node: the agent's WebSocket (logs through the tunnel). */
  TUNNEL: DurableObjectNamespace<NodeTunnel>;
  DISRUPTION: DurableObjectNamespace<DisruptionController>;
  /** The admin bearer token (a secret; `.dev.vars` locally). */
  ADMIN_TOKEN: string;
  /** Seals Secrets at rest: base64 of 32 random bytes (a secret; `.dev.vars` locally). */
  SECRETS_KEY?: string;
  /** Signs ServiceAccount tokens: base64 of a PKCS#8 P-256 private key (a secret). */
  SERVICE_ACCOUNT_KEY?: string;
  CHANGE_LOG_RETAIN?: string;
  SERVICE_CIDR?: string;
  /** Pod addresses: each joined node gets a /24 of it. */
  CLUSTER_CIDR?: string;
  NODE_PORT_RANGE?: string;
  /** "1" serves the D1 floor measurement for `npm run bench`. */
  KUBEFLARE_BENCH?: string;
  RESYNC_SECONDS?: string;
  NODE_MONITOR_GRACE_SECONDS?: string;
  DEFAULT_TOLERATION_SECONDS?: string;
  /** The IP pods reach the control plane at: the `kubernetes` Service's endpoint (port 443). */
  API_SERVER_ADDRESS?: string;
  /** A failed Job pod's back-off base (Kubernetes: 10 s), doubling per failure. */
  JOB_BACKOFF_BASE_SECONDS?: string;
  /** "1" drops every controller poke (a test switch): periodic alarms alone must converge. */
  DROP_POKES?: string;
  /** Seconds between watch bookmarks; tests shorten it. */
  BOOKMARK_SECONDS?: string;
}
