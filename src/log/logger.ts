import { pino, type Logger, type DestinationStream } from "pino";
import type { Writable } from "node:stream";
import { prettyFactory } from "pino-pretty";
import { safeOutput } from "./safe-output.ts";

// Tokens and secrets never reach a log line, wherever they hide in a logged object.
export const REDACT_PATHS = [
  "botToken", "appToken", "signingSecret", "token", "password", "secret", "authorization",
  "*.botToken", "*.appToken", "*.signingSecret", "*.token", "*.password", "*.secret", "*.authorization",
  "chat.botToken", "chat.appToken", "chat.signingSecret", "config.chat", "headers.authorization",
  'headers["x-slack-signature"]', "env.SLACK_BOT_TOKEN", "env.SLACK_APP_TOKEN", "env.SLACK_SIGNING_SECRET",
];

/** Token shapes Slack uses, and age's secret keys; scrubbed from free text (error messages) as well. */
const TOKEN_TEXT = /\bxox[abposr]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+|AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]{20,}/g;
export const scrub = (s: string): string => s.replace(TOKEN_TEXT, "[Redacted]");

export interface LoggerOptions {
  level: string;
  pretty?: boolean; // console mode: readable lines on stderr, stdout stays for replies
  /** Where readable lines go (console mode at a terminal: above the prompt); stderr when unset. */
  prettySink?: { write(text: string): void };
  destination?: DestinationStream;
}

export function createLogger(o: LoggerOptions): Logger {
  const options = {
    level: o.level,
    redact: { paths: REDACT_PATHS, censor: "[Redacted]" },
    formatters: { log: (obj: Record<string, unknown>) => scrubObject(obj) },
    hooks: { logMethod(args: unknown[], method: (...a: unknown[]) => void) { method.apply(this, args.map((a) => (typeof a === "string" ? scrub(a) : a))); } },
  };
  if (o.destination) return pino(options, o.destination);
  return pino(options, o.pretty ? prettyDestination(o.prettySink ?? safeOutput(process.stderr)) : jsonDestination(process.stdout));
}

// Not pino's own destinations: its sonic-boom writes synchronously (and its pino-pretty transport flushes a
// worker thread synchronously at exit), so a pipe nobody reads blocked the main thread and SIGTERM with it.
function jsonDestination(stream: Writable): DestinationStream {
  const out = safeOutput(stream);
  return { write: (line: string) => out.write(line) };
}

function prettyDestination(out: { write(text: string): void }): DestinationStream {
  const pretty = prettyFactory({ colorize: false, ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss" });
  return { write: (line: string) => out.write(pretty(line)) };
}

function scrubObject(obj: Record<string, unknown>): Record<string, unknown> {
  const err = obj.err as { message?: string; stack?: string } | undefined;
  if (err && typeof err === "object" && typeof err.message === "string") obj.err = { ...err, message: scrub(err.message), stack: err.stack && scrub(err.stack) };
  return obj;
}
