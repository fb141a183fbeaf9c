import { app } from "./api/app.ts";

export { WatchHub } from "./api/watch-hub.ts";
export { CronJobController } from "./controllers/cronjob.ts";
export { DaemonSetController } from "./controllers/daemonset.ts";
export { DeploymentController } from "./controllers/deployment.ts";
export { DisruptionController } from "./controllers/disruption.ts";
export { EndpointsController } from "./controllers/endpoints.ts";
export { GarbageCollector } from "./controllers/garbage-collector.ts";
export { JobController } from "./controllers/job.ts";
export { NamespaceLifecycle } from "./controllers/namespace-lifecycle.ts";
export { NodeLifecycle } from "./controllers/node-lifecycle.ts";
export { ReplicaSetController } from "./controllers/replicaset.ts";
export { Resync } from "./controllers/resync.ts";
export { Scheduler } from "./controllers/scheduler.ts";
export { StatefulSetController } from "./controllers/statefulset.ts";
export { NodeTunnel } from "./tunnel/node-tunnel.ts";

export default app;
