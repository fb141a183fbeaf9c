// `npm run bench`: every benchmark, printing figures. `npm run bench -- api` runs one.
import { benchAgent } from "./agent.ts";
import { benchApi } from "./api.ts";
import { benchDeployment } from "./deployment.ts";
import { benchScheduler } from "./scheduler.ts";

const benches: Record<string, () => Promise<void>> = {
  api: benchApi,
  scheduler: benchScheduler,
  deployment: benchDeployment,
  agent: benchAgent,
};

const only = process.argv.slice(2);
for (const [name, run] of Object.entries(benches))
  if (!only.length || only.includes(name)) await run();
process.exit(0);
