import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          environment: "node",
          include: ["src/k8s/**/*.test.ts", "scripts/**/*.test.ts", "agent/**/*.test.ts"],
        },
      },
    ],
  },
});
