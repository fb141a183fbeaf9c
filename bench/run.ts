// `npm run bench`: every benchmark, printing figures.
import { benchApi } from "./api.ts";

await benchApi();
process.exit(0);
