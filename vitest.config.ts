import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The e2e files start the bot as a child process and archive real files: two at a time on 2 cores.
    maxWorkers: 2,
    // One Ceph RADOS Gateway and one PostgreSQL 15 for the whole run, each started when a test first asks for it
    // (test/helpers/ceph-env.ts, test/helpers/pg-ledger.ts; both through test/helpers/daemon-control.ts).
    globalSetup: ["test/helpers/ceph-global-setup.ts", "test/helpers/pg-global-setup.ts"],
    // The AWS SDK's notice about future Node versions, on every file's stderr otherwise (src/main.ts does the same).
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
