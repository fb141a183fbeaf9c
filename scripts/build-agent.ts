// Bundles the host agent into one file the Worker serves: `agent/main.ts` →
// `public/agent/kubeflare-agent.mjs` (ESM for Node ≥ 20, no node_modules needed), next to a copy
// of `agent/install.sh`. Run by `npm start`, `npm test` (pretest) and `npm run deploy`.
//   node scripts/build-agent.ts
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const AGENT_OUT_DIR = join(root, "public/agent");

export async function buildAgent(outDir = AGENT_OUT_DIR): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, "kubeflare-agent.mjs");
  const result = await build({
    entryPoints: [join(root, "agent/main.ts")],
    outfile,
    write: false,
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
  // Written whole then renamed: a server or a test reading public/ never sees half a file.
  const install = readFileSync(join(root, "agent/install.sh"));
  for (const [path, data] of [
    [outfile, result.outputFiles[0].contents],
    [join(outDir, "install.sh"), install],
  ] as const) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  }
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildAgent().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
