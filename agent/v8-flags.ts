// Memory over speed: the agent waits on I/O almost all the time, so V8's optimizing tiers and a
// large young generation buy nothing but RSS (about 10 MB less with 20 pods). Imported first by
// main.ts so the flags are set before the rest of the bundle is compiled.
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--lite-mode");
setFlagsFromString("--max-semi-space-size=1");
