import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { pipeline, Readable } from "node:stream";
import { batched } from "../../storage/batched.ts";
import { ConsulError, ConsulUserError } from "./consul-errors.ts";

// Consul's HTTP API as the driver uses it (no consul binary): GET /v1/snapshot[?stale] as a stream with its
// X-Consul-* headers, PUT /v1/snapshot, GET /v1/agent/self, GET /v1/status/leader. The token goes only in the
// X-Consul-Token header and is never part of a message or a log line. Every request carries the operation's
// signal; the small ones also a timeout of their own.

export interface ConsulClientOptions {
  address: string; // http://127.0.0.1:8500
  token: string | undefined;
  datacenter: string | undefined;
  requestTimeoutMs: number;
  /** For messages: "consul-dc1", and the variable to set ("CONSUL_HTTP_TOKEN"). */
  server: string;
  tokenEnv: string | undefined;
}

export interface SnapshotResponse {
  body: Readable;
  index: number | null; // X-Consul-Index
  knownLeader: boolean | null; // X-Consul-KnownLeader
  lastContactMs: number | null; // X-Consul-LastContact
}

export interface ConsulClient {
  /** The cluster's Consul version as the agent reports it (Config.Version), and its datacenter. */
  agentSelf(signal: AbortSignal): Promise<{ version: string; datacenter: string | null }>;
  /** Whether the cluster has a leader now (status/leader non-empty); a failed request means no. */
  hasLeader(signal: AbortSignal): Promise<boolean>;
  snapshot(stale: boolean, signal: AbortSignal): Promise<SnapshotResponse>;
  restore(body: Readable, signal: AbortSignal): Promise<void>;
}

export function createConsulClient(o: ConsulClientOptions): ConsulClient {
  const url = (path: string, query: Record<string, string | null> = {}) => {
    const u = new URL(path, o.address);
    if (o.datacenter) u.searchParams.set("dc", o.datacenter);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v ?? "");
    return u.toString().replace(/([?&]stale)=(?=&|$)/, "$1");
  };
  const headers = (): Record<string, string> => (o.token ? { "X-Consul-Token": o.token } : {});
  const request = async (method: string, target: string, signal: AbortSignal, init: RequestInit = {}) => {
    let res: Response;
    try {
      res = await fetch(target, { method, headers: headers(), signal, ...init });
    } catch (e) {
      throw networkError(e, signal, o, `${method} ${new URL(target).pathname}`);
    }
    if (!res.ok) throw await answerError(res, o);
    return res;
  };
  const small = (signal: AbortSignal) => AbortSignal.any([signal, AbortSignal.timeout(o.requestTimeoutMs)]);

  return {
    async agentSelf(signal) {
      const res = await request("GET", url("/v1/agent/self"), small(signal));
      const self = (await res.json().catch(() => null)) as { Config?: { Version?: unknown; Datacenter?: unknown } } | null;
      const version = self?.Config?.Version;
      if (typeof version !== "string" || version === "") throw new ConsulError("bad_answer", `${o.server}: /v1/agent/self has no Config.Version`);
      return { version, datacenter: typeof self?.Config?.Datacenter === "string" ? self.Config.Datacenter : null };
    },
    async hasLeader(signal) {
      try {
        const res = await request("GET", url("/v1/status/leader"), small(signal));
        const leader = (await res.json()) as unknown;
        return typeof leader === "string" && leader !== "";
      } catch (e) {
        if (signal.aborted || e instanceof ConsulUserError) throw e;
        return false;
      }
    },
    async snapshot(stale, signal) {
      const target = url("/v1/snapshot", stale ? { stale: null } : {});
      let res: IncomingMessage;
      try {
        res = await getStream(target, headers(), signal);
      } catch (e) {
        throw networkError(e, signal, o, "GET /v1/snapshot");
      }
      if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) throw await answerError({ status: res.statusCode ?? 0, text: () => firstBytes(res) }, o);
      const h = (name: string) => {
        const v = res.headers[name.toLowerCase()];
        return typeof v === "string" ? v : null;
      };
      const num = (v: string | null) => (v !== null && /^\d+$/.test(v) ? Number(v) : null);
      const leader = h("X-Consul-KnownLeader");
      const body = batched();
      pipeline(res, body, () => {}); // a cut connection fails the batches; destroying them ends the request
      return {
        body,
        index: num(h("X-Consul-Index")),
        knownLeader: leader === "true" ? true : leader === "false" ? false : null,
        lastContactMs: num(h("X-Consul-LastContact")),
      };
    },
    async restore(body, signal) {
      const stream = Readable.toWeb(body) as unknown as ReadableStream<Uint8Array>;
      const res = await request("PUT", url("/v1/snapshot"), signal, { body: stream, duplex: "half" } as RequestInit);
      await res.arrayBuffer();
    },
  };
}

/** GET `target` with the response as a Node stream, once its head has arrived. */
function getStream(target: string, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(target);
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, { method: "GET", headers, signal }, resolve);
    req.once("error", reject);
    req.end();
  });
}

/** An error answer's first line is all a message needs: at most 64 KiB of it is read, then the response goes. */
async function firstBytes(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      chunks.push(c);
      if ((n += c.length) >= 64 * 1024) break;
    }
  } finally {
    res.destroy();
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A non-2xx answer in one line: 403 is the token's fault (a UserError), "No cluster leader" its own code. */
async function answerError(res: { status: number; text(): Promise<string> }, o: ConsulClientOptions): Promise<Error> {
  const text = (await res.text().catch(() => "")).trim().split("\n")[0]!.slice(0, 300);
  if (res.status === 403) {
    const set = o.tokenEnv ? `set ${o.tokenEnv} to a management token` : "set token_env to a variable holding a management token";
    const which = o.token ? "the token" : "no token (token_env is not set)";
    return new ConsulUserError("consul_forbidden", `${o.server}: Consul refused ${which} (403 ${text || "Forbidden"}): snapshots need a management token; ${set}`);
  }
  if (/No cluster leader/i.test(text))
    return new ConsulError("no_leader", `${o.server}: Consul has no cluster leader (${text}); with stale: auto a follower's stale snapshot is taken instead`);
  return new ConsulError("http_error", `${o.server}: Consul answered ${res.status}${text ? `: ${text}` : ""}`);
}

function networkError(e: unknown, signal: AbortSignal, o: ConsulClientOptions, what: string): Error {
  if (signal.aborted) {
    const timedOut = (signal.reason as Error | undefined)?.name === "TimeoutError";
    return new ConsulError(timedOut ? "timeout" : "cancelled", `${o.server}: ${what} ${timedOut ? "timed out" : "was cancelled"} (${o.address})`, { cause: e });
  }
  // fetch wraps the socket's error as its cause; node:http gives it as it is.
  const cause = (e as { cause?: { code?: string; message?: string } }).cause ?? (e as { code?: string; message?: string });
  const why = cause?.code ?? cause?.message ?? (e as Error).message;
  return new ConsulError("unreachable", `${o.server}: cannot reach Consul at ${o.address} (${why}); check address: and that the agent runs`, { cause: e });
}
