import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Ledger } from "../../db/ledger.ts";
import type { Clock } from "../clock.ts";
import type { Metrics } from "./metrics.ts";
import { formatAge } from "../duration.ts";
import { errorMessage, SnapbotError } from "../errors.ts";

// GET /metrics for Prometheus and GET /healthz for a process supervisor, on their own port (METRICS_PORT)
// so neither is exposed with the Slack receiver. No request is logged (a scrape every 15 s is noise);
// failures are, as one line, and never with request headers (a proxy may add credentials there).

export interface Health {
  ok: boolean;
  /** With replicas on one ledger: whether this one leads (runs the scheduler) or follows. */
  role?: "leader" | "follower";
  checks: Record<string, string>; // "ok", "ok: <detail>" or "failing: <what is wrong>"
}

/** Healthy: returns (or resolves with) nothing or a short detail. Unhealthy: throws (rejects), with what is wrong as the message. */
export type HealthCheck = () => string | void | Promise<string | void>;

export interface MetricsServerOptions {
  port: number; // 0 picks a free port
  host?: string;
  metrics: Pick<Metrics, "registry">;
  health: () => Health | Promise<Health>;
  log: Logger;
}

export interface MetricsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const host = o.host ?? "0.0.0.0";
  const log = o.log.child({ component: "metrics" });
  const server = createServer((req, res) => void handle(o, log, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      reject(new SnapbotError("metrics_listen", `METRICS_PORT ${o.port}: cannot listen on ${host}:${o.port} (${e.code ?? e.message})`, { cause: e })),
    );
    server.listen(o.port, host, () => resolve());
  });
  server.removeAllListeners("error");
  server.on("error", (e) => log.error({ err: errorMessage(e) }, "metrics server error"));
  const port = (server.address() as AddressInfo).port;
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `http://${shown}:${port}`;
  log.info({ url: `${url}/metrics` }, "metrics and /healthz listening");
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // Prometheus keeps its connection open: do not wait for it
    }));
  return { port, url, close };
}

async function handle(o: MetricsServerOptions, log: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (path !== "/metrics" && path !== "/healthz") return send(res, 404, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return send(res, 405, "text/plain; charset=utf-8", `method ${req.method} not allowed: use GET\n`);
  }
  if (path === "/healthz") return healthz(o, log, res);
  const { registry } = o.metrics;
  let body: string;
  try {
    body = await registry.metrics();
  } catch (e) {
    const line = oneLine(errorMessage(e));
    log.error({ err: line }, "metrics scrape failed");
    return send(res, 500, "text/plain; charset=utf-8", `metrics scrape failed: ${line}\n`);
  }
  send(res, 200, registry.contentType, body);
}

async function healthz(o: MetricsServerOptions, log: Logger, res: ServerResponse): Promise<void> {
  let h: Health;
  try {
    h = await o.health();
  } catch (e) {
    h = { ok: false, checks: { health: `failing: ${oneLine(errorMessage(e))}` } };
  }
  if (!h.ok) log.warn({ checks: h.checks }, "health check failing");
  send(res, h.ok ? 200 : 503, "application/json; charset=utf-8", `${JSON.stringify({ status: h.ok ? "ok" : "failing", ...(h.role ? { role: h.role } : {}), checks: h.checks })}\n`);
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const oneLine = (s: string) => s.split("\n")[0]!.trim().slice(0, 300);

/** Runs every check, in order; one that throws makes the whole answer unhealthy (503) and says why. */
export function healthOf(checks: Record<string, HealthCheck>): () => Promise<Health> {
  return async () => {
    const out: Record<string, string> = {};
    let ok = true;
    for (const [name, check] of Object.entries(checks)) {
      try {
        const detail = await check();
        out[name] = detail ? `ok: ${detail}` : "ok";
      } catch (e) {
        ok = false;
        out[name] = `failing: ${oneLine(errorMessage(e))}`;
      }
    }
    return { ok, checks: out };
  };
}

/** The ledger connection is open and answers SELECT 1 (it reads no table, so it never waits on a lock). */
export function ledgerCheck(ledger: Pick<Ledger, "ping">): HealthCheck {
  return async () => {
    await ledger.ping();
  };
}

/**
 * Something periodic (the scheduler's tick) happened within `maxAgeMs`. `last` returns the time of the
 * latest tick, or null before the first: then the age counts from when this check was made.
 */
export function tickedWithin(what: string, last: () => number | null, maxAgeMs: number, clock: Clock): HealthCheck {
  const since = clock.now();
  return () => {
    const at = last();
    const age = clock.now() - (at ?? since);
    if (age > maxAgeMs) throw new Error(`${what} ${at === null ? "has not run since start-up" : "last ran"} ${formatAge(age)} ago (limit ${formatAge(maxAgeMs)})`);
    return at === null ? undefined : `${what} ran ${formatAge(age)} ago`;
  };
}
