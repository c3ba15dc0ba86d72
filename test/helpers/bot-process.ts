import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const MAIN = resolve(import.meta.dirname, "../../src/main.ts");
/** How the bot starts: from source through tsx (the default), or the compiled dist/ that `npm start` runs. */
export const FROM_SOURCE = ["--import", TSX, MAIN];
export const COMPILED = [resolve(import.meta.dirname, "../../dist/src/main.js")];

/** The real bot as a child process in console mode: stdin a pipe, stdout and stderr captured. */
export interface Bot {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  send(line: string): void;
  end(): void;
  /** Waits until stdout (after `from` characters) matches, or fails after `ms`, showing what it saw. */
  waitFor(pattern: RegExp, ms?: number, from?: number): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startBot(cwd: string, env: Record<string, string> = {}, entry: string[] = FROM_SOURCE): Bot {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SLACK_") && !k.startsWith("SNAPBOT_")));
  const child = spawn(process.execPath, entry, { cwd, env: { ...clean, ...env }, stdio: "pipe" });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  child.stdout.on("data", (d) => {
    stdout += String(d);
    waiters.forEach((w) => w());
  });
  child.stderr.on("data", (d) => (stderr += String(d)));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on("exit", (code, signal) => res({ code, signal })));
  return {
    child,
    out: () => stdout,
    err: () => stderr,
    send: (line) => child.stdin.write(`${line}\n`),
    end: () => child.stdin.end(),
    exit,
    waitFor(pattern, ms = 20_000, from = 0) {
      return new Promise((res, rej) => {
        const check = () => {
          const m = pattern.exec(stdout.slice(from));
          if (!m) return;
          cleanup();
          res(m[0]);
        };
        const timer = setTimeout(() => {
          cleanup();
          rej(new Error(`timed out waiting for ${pattern}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
        }, ms);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        void exit.then(() => setTimeout(check, 0));
        check();
      });
    },
  };
}

/** Runs the bot over a whole piped script and returns what it printed. */
export async function runScript(cwd: string, lines: string[], env: Record<string, string> = {}, entry: string[] = FROM_SOURCE) {
  const bot = startBot(cwd, env, entry);
  for (const l of lines) bot.send(l);
  bot.end();
  const { code } = await bot.exit;
  return { code, stdout: bot.out(), stderr: bot.err() };
}
