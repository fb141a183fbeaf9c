// Bundles the host agent into one file the Worker serves: `agent/main.ts` →
// `public/agent/kubeflare-agent.mjs` (ESM for Node ≥ 20, no node_modules needed), next to a copy
// of `agent/install.sh`. Run by `npm start`, `npm test` (pretest) and `npm run deploy`.
//   node scripts/build-agent.ts
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const AGENT_OUT_DIR = join(root, "public/agent");

export async function buildAgent(outDir = AGENT_OUT_DIR): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, "kubeflare-agent.mjs");
  await build({
    entryPoints: [join(root, "agent/main.ts")],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
    // Bundled CommonJS dependencies call require() for Node built-ins; ESM has none of its own.
    banner: {
      js: 'import{createRequire as __kfCreateRequire}from"node:module";const require=__kfCreateRequire(import.meta.url);',
    },
  });
  copyFileSync(join(root, "agent/install.sh"), join(outDir, "install.sh"));
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildAgent().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
