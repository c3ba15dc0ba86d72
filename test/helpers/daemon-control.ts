import { createServer, type Server } from "node:http";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { track } from "./cleanup.ts";

// A daemon for the whole test run (Ceph, PostgreSQL), started by vitest's global setup only when a test file first
// asks for it, so a run of files that never touch it pays nothing. It is a child of vitest's own process, in its
// cleanup registry; the files reach this process through a unix socket the setup provides under `key`
// (daemon-ask.ts, which alone loads vitest's runtime: this file runs in vitest's own process).

declare module "vitest" {
  export interface ProvidedContext {
    cephControl: string;
    pgControl: string;
  }
}

export type ControlKey = "cephControl" | "pgControl";

/** What the setup answers: `ok` with the daemon's details, or why it did not start. */
export type ControlAnswer<A> = ({ ok: true } & A) | { ok: false; error: string };

export interface DaemonControl<T, A> {
  project: TestProject;
  key: ControlKey;
  /** In the socket's name: snapbot-<name>-control-<pid>.sock. */
  name: string;
  start(): Promise<T>;
  /** The details a file needs to use the started daemon. */
  answer(t: T): A;
  stop(t: T): void;
}

/** The global setup's side: returns the teardown, which stops the daemon if any file started it. */
export async function serveDaemon<T, A extends object>(o: DaemonControl<T, A>): Promise<() => Promise<void>> {
  const socket = join(tmpdir(), `snapbot-${o.name}-control-${process.pid}.sock`);
  rmSync(socket, { force: true });
  let started: Promise<T> | null = null;
  const server = createServer((req, res) => {
    req.resume();
    started ??= o.start();
    started.then(
      (t) => res.end(JSON.stringify({ ok: true, ...o.answer(t) } satisfies ControlAnswer<A>)),
      (e: unknown) => res.end(JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) } satisfies ControlAnswer<A>)),
    );
  });
  await listen(server, socket);
  const release = track({ kind: "dir", dir: socket }); // a killed run leaves no socket file either
  o.project.provide(o.key, socket);
  return async () => {
    server.close();
    rmSync(socket, { force: true });
    release();
    const t = await (started as Promise<T> | null)?.catch(() => null);
    if (t) o.stop(t);
  };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
}
