import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { buildAgent } from "./scripts/build-agent.ts";

/** A Worker test project: the real Worker in workerd, D1 migrated per test file. */
const workerProject = (name: string, include: string[], vars: Record<string, string> = {}) => ({
  plugins: [
    cloudflareTest(async () => {
      // The Worker serves the agent bundle and install.sh from public/agent/ (assets).
      await buildAgent();
      return {
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            ADMIN_TOKEN: "test-admin-token",
            SECRETS_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            SERVICE_ACCOUNT_KEY:
              "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg39mv2k0sHwtJUVnSDbyNkAze0cHam3B5MXQbZ0+//MahRANCAATWqcCzwKzIsm2YLlLerMDmE170BQ5QdNQmslRk2gMk39ps2iDoge0C0jDc2IGH3osbxLysJMyeNAeeWogaprWW",
            BOOKMARK_SECONDS: "1",
            CHANGE_LOG_RETAIN: "100",
            RESYNC_SECONDS: "2",
            NODE_MONITOR_GRACE_SECONDS: "3",
            DEFAULT_TOLERATION_SECONDS: "2",
            JOB_BACKOFF_BASE_SECONDS: "1",
            API_SERVER_ADDRESS: "192.0.2.10",
            ...vars,
            TEST_MIGRATIONS: await readD1Migrations("./migrations"),
          },
        },
      };
    }),
  ],
  test: { name, include, setupFiles: ["./test/worker/setup.ts"] },
});

/**
 * A test file's isolate closes its RPC channel to vitest as the file ends; a controller alarm the
 * file set off may still be loading a module then, and its rejection says only that. It is no
 * failure of the file's tests (whose cleanup waits for what they assert on), so it is not counted.
 */
const teardownRace = (error: { name?: string; message?: string }) =>
  error.name === "EnvironmentTeardownError" && /Closing rpc while/.test(error.message ?? "");

export default defineConfig({
  test: {
    onUnhandledError: (error) => !teardownRace(error),
    projects: [
      {
        test: {
          name: "unit",
          environment: "node",
          include: ["src/k8s/**/*.test.ts", "scripts/**/*.test.ts", "agent/**/*.test.ts"],
        },
      },
      workerProject("worker", ["test/worker/**/*.test.ts"]),
      // Every controller poke dropped: the periodic alarms alone must converge.
      workerProject("worker-nopokes", ["test/worker-nopokes/**/*.test.ts"], { DROP_POKES: "1" }),
      {
        test: {
          name: "e2e",
          environment: "node",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
