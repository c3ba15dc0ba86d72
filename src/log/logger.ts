import { pino, type Logger, type DestinationStream } from "pino";

// Tokens and secrets never reach a log line, wherever they hide in a logged object.
export const REDACT_PATHS = [
  "botToken", "appToken", "signingSecret", "token", "password", "secret", "authorization",
  "*.botToken", "*.appToken", "*.signingSecret", "*.token", "*.password", "*.secret", "*.authorization",
  "chat.botToken", "chat.appToken", "chat.signingSecret", "config.chat", "headers.authorization",
  'headers["x-slack-signature"]', "env.SLACK_BOT_TOKEN", "env.SLACK_APP_TOKEN", "env.SLACK_SIGNING_SECRET",
];

/** Token shapes Slack uses; scrubbed from free text (error messages) as well. */
const TOKEN_TEXT = /\bxox[abposr]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+/g;
export const scrub = (s: string): string => s.replace(TOKEN_TEXT, "[Redacted]");

export interface LoggerOptions {
  level: string;
  pretty?: boolean; // console mode: readable lines on stderr, stdout stays for replies
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
  if (o.pretty)
    return pino({ ...options, transport: { target: "pino-pretty", options: { destination: 2, colorize: false, ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss" } } });
  return pino(options);
}

function scrubObject(obj: Record<string, unknown>): Record<string, unknown> {
  const err = obj.err as { message?: string; stack?: string } | undefined;
  if (err && typeof err === "object" && typeof err.message === "string") obj.err = { ...err, message: scrub(err.message), stack: err.stack && scrub(err.stack) };
  return obj;
}
