// `npm run bench`: every benchmark, printing figures. `npm run bench -- api` runs one.
import { benchAgent } from "./agent.ts";
import { benchApi } from "./api.ts";
import { benchDeployment } from "./deployment.ts";
import { benchScheduler } from "./scheduler.ts";
import { scratchDir } from "./scratch.ts";

const benches: Record<string, () => Promise<void>> = {
  api: benchApi,
  scheduler: benchScheduler,
  deployment: benchDeployment,
  agent: benchAgent,
};

const only = process.argv.slice(2);
if (!only.length || only.some((b) => b !== "agent"))
  console.log(`(the control plane's state for api, scheduler, deployment: under ${scratchDir()})`);
for (const [name, run] of Object.entries(benches))
  if (!only.length || only.includes(name)) await run();
process.exit(0);
