import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The e2e files start the bot as a child process and archive real files: two at a time on 2 cores.
    maxWorkers: 2,
  },
});
