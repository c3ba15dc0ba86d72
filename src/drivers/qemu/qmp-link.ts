import { createConnection } from "node:net";
import { PassThrough, type Readable } from "node:stream";
import type { Runner } from "../../transport/runner.ts";

// The byte channel a QMP session talks over. On snapbot's machine it is the unix socket itself (node:net);
// on a hypervisor reached with `host: ssh://…` it is `socat - UNIX-CONNECT:<socket>` run there through the
// Runner, its stdin and stdout carrying the same JSON lines.

export interface QmpLink {
  /** What QEMU writes, line by line. */
  readonly incoming: Readable;
  write(text: string): void;
  /** Ends the channel (and the socat process); what is in flight is dropped. */
  close(): void;
  /** Resolves when the channel ends: null when closed normally, else why it broke. */
  readonly ended: Promise<string | null>;
}

export type OpenQmpLink = () => QmpLink;

export function socketLink(path: string): OpenQmpLink {
  return () => {
    const sock = createConnection(path);
    sock.setEncoding("utf8");
    let failure: string | null = null;
    sock.on("error", (e: NodeJS.ErrnoException) => {
      failure = e.code === "ENOENT" ? "no such socket" : e.code === "ECONNREFUSED" ? "nothing listens on it" : e.message;
    });
    const ended = new Promise<string | null>((resolve) => sock.once("close", () => resolve(failure)));
    return { incoming: sock, write: (t) => void sock.write(t), close: () => sock.destroy(), ended };
  };
}

export function socatLink(path: string, runner: Runner, signal: AbortSignal): OpenQmpLink {
  return () => {
    const input = new PassThrough();
    const p = runner.pipeline([{ cmd: "socat", args: ["-", `UNIX-CONNECT:${path}`] }], { input, signal });
    p.stdout.setEncoding("utf8");
    const ended = p.done.then(
      () => null,
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    return {
      incoming: p.stdout,
      write: (t) => void input.write(t),
      close: () => (input.end(), p.kill()),
      ended,
    };
  };
}
