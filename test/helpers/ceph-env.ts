import { afterAll } from "vitest";
import { startCeph, type CephEnv } from "./ceph.ts";
import { askDaemon } from "./daemon-ask.ts";

// The shared Ceph gateway, from a test file: asked of the run's global setup (ceph-global-setup.ts), which
// starts it on the first request; a file run by a config without that setup starts its own for the file.

let shared: Promise<CephEnv> | null = null;

export function useCeph(): Promise<CephEnv> {
  shared ??= fromControl().then(async (env) => {
    if (env) return env;
    const own = await startCeph();
    afterAll(() => own.stop());
    return own;
  });
  return shared;
}

async function fromControl(): Promise<CephEnv | null> {
  const answer = await askDaemon<{ env: CephEnv }>("cephControl", "/ceph");
  if (!answer) return null;
  if (!answer.ok) throw new Error(`Ceph did not start: ${answer.error}`);
  return answer.env;
}
