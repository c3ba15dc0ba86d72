import { request } from "node:http";
import { inject } from "vitest";
import type { ControlAnswer, ControlKey } from "./daemon-control.ts";

// The test file's side of daemon-control.ts: ask the run's global setup for its daemon.

/** A test file's side: the setup's answer (starting the daemon on the first ask), or null under a config without it. */
export function askDaemon<A extends object>(key: ControlKey, path: string): Promise<ControlAnswer<A> | null> {
  let socket: string | undefined;
  try {
    socket = inject(key);
  } catch {
    socket = undefined;
  }
  if (!socket) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: "POST" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(JSON.parse(body) as ControlAnswer<A>));
    });
    req.on("error", reject);
    req.end();
  });
}
