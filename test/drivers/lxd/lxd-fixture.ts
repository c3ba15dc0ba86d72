import pino from "pino";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { DriverContext, Progress, SnapshotDriver, SnapshotHandle } from "../../../src/drivers/driver.ts";
import { createLxdDriver } from "../../../src/drivers/lxd/lxd-driver.ts";
import type { LxdSettings } from "../../../src/drivers/lxd/lxd-settings.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { lxdAvailable, startLxdEnv, type LxdEnv } from "../../helpers/lxd-env.ts";

// One pair of real LXD daemons per test file (started in beforeAll, stopped in afterAll). Without lxd the
// suite is skipped with a message on a workstation, and fails in CI: CI must prove the LXD walk-through.

export const log = pino({ level: "silent" });

export function describeLxd(title: string, body: (env: () => LxdEnv) => void): void {
  if (!lxdAvailable()) {
    if (process.env.CI === "true") {
      describe(title, () => {
        it("needs lxd installed", () => {
          throw new Error("lxd is not installed: CI must run the LXD tests (apt-get install -y lxd busybox-static)");
        });
      });
    } else {
      console.warn(`skipping "${title}": lxd is not installed (apt-get install -y lxd busybox-static)`);
      describe.skip(title, () => body(() => undefined as never));
    }
    return;
  }
  describe(title, () => {
    let env: LxdEnv | undefined;
    beforeAll(async () => {
      env = await startLxdEnv();
    }, 120_000);
    afterAll(() => env?.stop(), 120_000);
    body(() => env!);
  });
}

export function driverFor(env: LxdEnv, over: Partial<LxdSettings> & { name?: string } = {}): SnapshotDriver {
  const settings = { name: "web-1", driver: "lxd" as const, limit: 50, lxd_conf: env.conf, lxd_dir: env.localDir, ...over };
  return createLxdDriver(settings, { runner: createLocalRunner(log), storageDir: "/nonexistent", fsync: false, log });
}

export function context(signal = new AbortController().signal): DriverContext & { events: Progress[] } {
  const events: Progress[] = [];
  return { signal, log, events, progress: (p) => events.push(p) };
}

export function handle(name: string, server = "web-1"): SnapshotHandle {
  return { server, name, location: null, createdAt: Date.now() };
}

export function request(name: string, over: { stateful?: boolean; expiresAt?: number; server?: string } = {}) {
  return { server: over.server ?? "web-1", name, createdAt: Date.now(), stateful: !!over.stateful, expiresAt: over.expiresAt };
}

/** `lxc exec <inst> -- sh -c <script>`: what the tests look at inside an instance. */
export function sh(env: LxdEnv, instance: string, script: string): string {
  return env.lxc(["exec", instance, "--", "sh", "-c", script]);
}

export function launch(env: LxdEnv, name: string): void {
  env.lxc(["launch", "busybox", name]);
}

export function json<T = Record<string, unknown>>(env: LxdEnv, path: string): T {
  return JSON.parse(env.lxc(["query", path])) as T;
}
