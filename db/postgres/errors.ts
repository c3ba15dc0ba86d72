import { SnapbotError } from "../../src/errors.ts";

// What PostgreSQL's failures mean to snapbot: a full disk (the ledger's "full" state, db/health.ts), a server
// that cannot be reached (one line naming where, and what to do), or anything else (passed on as it is).

/** postgres://host:port/db: where the ledger is, as messages and /healthz name it. Never the user or password. */
export function displayUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "postgres://(an unreadable SNAPBOT_DB)"; // the text may hold a password: never echoed
  }
  const db = decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres";
  return `postgres://${u.hostname || "localhost"}:${u.port || "5432"}/${db}`;
}

const sqlState = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};

/**
 * disk_full (53100) only. The other "insufficient resources" states are not a full disk: out_of_memory (53200),
 * too_many_connections (53300) and configuration_limit_exceeded (53400) pass without freeing space, and a probe
 * write that fails with them must not count as "still full".
 */
export const isDiskFull = (e: unknown): boolean => sqlState(e) === "53100";

const NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);
const GONE = /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection ended/i;

/** Why a connection to the ledger failed, or null when `e` is not a connection failure. */
export function connectionProblem(e: unknown): string | null {
  const code = (e as { code?: unknown } | null)?.code;
  const state = sqlState(e);
  if (typeof code === "string" && NODE_CODES.has(code)) return code === "ECONNREFUSED" ? "connection refused" : code;
  if (state?.startsWith("08")) return "the connection failed";
  if (state === "57P01" || state === "57P02") return "the server shut down";
  if (state === "57P03") return "the server is starting up or shutting down";
  if (state === "3D000") return "that database does not exist";
  if (state?.startsWith("28")) return "the server refused the credentials";
  if (e instanceof Error && GONE.test(e.message)) return "the connection was lost";
  return null;
}

/** A connection failure as one line naming the ledger (never its password) and what to do. */
export function unreachable(where: string, e: unknown): SnapbotError {
  const why = connectionProblem(e) ?? "it did not answer";
  return new SnapbotError(
    "ledger_unreachable",
    `cannot reach the ledger ${where} (${why}): check that PostgreSQL runs there and that SNAPBOT_DB names it, then try again`,
    { cause: e },
  );
}
