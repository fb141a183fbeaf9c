import { app } from "./api/app.ts";

export { WatchHub } from "./api/watch-hub.ts";

export default app;
