import { app } from "./api/app.ts";

export { WatchHub } from "./api/watch-hub.ts";
export { GarbageCollector } from "./controllers/garbage-collector.ts";
export { NamespaceLifecycle } from "./controllers/namespace-lifecycle.ts";

export default app;
