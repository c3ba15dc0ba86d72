import { request } from "node:http";
import { afterAll, inject } from "vitest";
import { startCeph, type CephEnv } from "./ceph.ts";

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

function fromControl(): Promise<CephEnv | null> {
  let socket: string | undefined;
  try {
    socket = inject("cephControl");
  } catch {
    socket = undefined;
  }
  if (!socket) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: "/ceph", method: "POST" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        const answer = JSON.parse(body) as { ok: boolean; env?: CephEnv; error?: string };
        if (answer.ok && answer.env) resolve(answer.env);
        else reject(new Error(`Ceph did not start: ${answer.error}`));
      });
    });
    req.on("error", reject);
    req.end();
  });
}
