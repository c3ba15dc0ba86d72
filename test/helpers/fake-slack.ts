import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { createRequire } from "node:module";
import type { WebSocket as WsSocket, WebSocketServer as WsServer } from "ws";

// A local stand-in for Slack's Web API (and for response_url targets, and optionally the Socket Mode
// websocket): it records every call and answers as Slack does. `ws` is the websocket library
// @slack/socket-mode itself uses, loaded from there rather than added as a dependency.
const ws = createRequire(createRequire(import.meta.url).resolve("@slack/socket-mode"))("ws") as typeof import("ws");

export interface FakeCall {
  /** "chat.postMessage", "chat.update", …, or "response_url" for a post to /respond/<id>. */
  method: string;
  path: string;
  body: Record<string, unknown>;
  auth: string | undefined;
  at: number;
  /** What the fake answered (with the ts it gave a posted message). */
  answer?: Record<string, unknown>;
}

type Down = false | "refused" | "500";

export interface FakeSlack {
  /** SLACK_API_URL for the bot. */
  apiUrl: string;
  /** A response_url that lands here, recorded as method "response_url". */
  responseUrl(id?: string): string;
  calls: FakeCall[];
  callsTo(method: string): FakeCall[];
  /** Resolves with the first truthy value of `check`, re-checked on each call and every 50 ms. */
  waitFor<T>(check: (calls: FakeCall[]) => T | undefined | false | null, ms?: number, what?: string): Promise<T>;
  /** The next n Web API calls (response_url excluded) answer 429 with Retry-After: 1. */
  rateLimit(n: number): void;
  /** Answers { ok: false, error } to one method from now on (e.g. "not_in_channel"). */
  failMethod(method: string, error: string | null): void;
  /** "refused": nothing listens on the port; "500": every call answers HTTP 500; false: back up. */
  setDown(mode: Down): Promise<void>;
  /**
   * Socket Mode: what the bots sent back over their websockets (acks), which connections acked an envelope, and a way
   * to send envelopes. As Slack spreads events over an app's connections, an envelope goes to one: the `to`-th
   * connection in the order they opened, or the next one in turn.
   */
  socket: { received: Array<Record<string, unknown>>; ackedOn(envelopeId: string): number[]; send(envelope: unknown, to?: number): void; connections(): number };
  close(): Promise<void>;
}

export async function startFakeSlack(): Promise<FakeSlack> {
  const calls: FakeCall[] = [];
  const waiters = new Set<() => void>();
  const failures = new Map<string, string>();
  const sockets = new Set<Socket>();
  const clients = new Set<WsSocket>();
  const received: Array<Record<string, unknown>> = [];
  const acks: Array<{ envelope: string; connection: number }> = [];
  let limited = 0;
  let down: Down = false;
  let ts = 0;
  const history = new Map<string, Array<{ ts: string; text: unknown; metadata?: unknown }>>(); // each channel's top-level posts, newest first

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    const url = new URL(req.url ?? "/", "http://x");
    const respond = url.pathname.startsWith("/respond/");
    const method = respond ? "response_url" : url.pathname.replace(/^\/api\//, "");
    const call: FakeCall = { method, path: url.pathname, body: parseBody(req, raw), auth: req.headers.authorization, at: Date.now() };
    calls.push(call);
    if (down === "500") send(res, 500, (call.answer = { ok: false, error: "fatal_error" }));
    else if (respond) send(res, 200, (call.answer = { ok: true }));
    else if (limited > 0) {
      limited--;
      send(res, 429, (call.answer = { ok: false, error: "ratelimited" }), { "retry-after": "1" });
    } else send(res, 200, (call.answer = answer(method, call.body)));
    waiters.forEach((w) => w());
  };

  const answer = (method: string, body: Record<string, unknown>): Record<string, unknown> => {
    const failure = failures.get(method);
    if (failure) return { ok: false, error: failure };
    switch (method) {
      case "auth.test":
        return { ok: true, url: "https://fake.slack.test/", team: "Test", user: "snapbot", team_id: "T0TEST", user_id: "U0BOT", bot_id: "B0BOT" };
      case "chat.postMessage": {
        const posted = { ts: `1700000000.${String(++ts).padStart(6, "0")}`, text: body.text, ...(body.metadata ? { metadata: asObject(body.metadata) } : {}) };
        if (!body.thread_ts) history.set(String(body.channel), [posted, ...(history.get(String(body.channel)) ?? [])]);
        return { ok: true, channel: body.channel, ts: posted.ts, message: { text: body.text } };
      }
      case "conversations.history": {
        // Newest first; metadata only with include_all_metadata, as Slack documents it.
        const all = body.include_all_metadata === true || body.include_all_metadata === "true";
        const limit = Number(body.limit ?? 100);
        const messages = (history.get(String(body.channel)) ?? []).slice(0, limit).map(({ metadata, ...m }) => ({ type: "message", ...m, ...(all && metadata ? { metadata } : {}) }));
        return { ok: true, messages, has_more: false };
      }
      case "chat.update":
        return { ok: true, channel: body.channel, ts: body.ts, text: body.text };
      case "chat.postEphemeral":
        return { ok: true, message_ts: `1700000000.${String(++ts).padStart(6, "0")}` };
      case "apps.connections.open":
        return { ok: true, url: `ws://127.0.0.1:${port}/link/?ticket=fake` };
      default:
        return { ok: false, error: "unknown_method" };
    }
  };

  let server!: Server;
  const wss: WsServer = new ws.WebSocketServer({ noServer: true });
  let opened = 0;
  let turn = 0;
  wss.on("connection", (c) => {
    clients.add(c);
    const connection = opened++;
    c.on("message", (d) => {
      const m = JSON.parse(String(d)) as Record<string, unknown>;
      received.push(m);
      if (typeof m.envelope_id === "string") acks.push({ envelope: m.envelope_id, connection });
    });
    c.on("close", () => clients.delete(c));
    c.send(JSON.stringify({ type: "hello", num_connections: 1, debug_info: { host: "fake" }, connection_info: { app_id: "A0TEST" } }));
    waiters.forEach((w) => w());
  });
  const listen = async (p: number) => {
    server = createServer((req, res) => void handle(req, res));
    server.on("connection", (s) => (sockets.add(s), s.on("close", () => sockets.delete(s))));
    server.on("upgrade", (req, socket, head) => wss.handleUpgrade(req, socket, head, (c) => wss.emit("connection", c, req)));
    await new Promise<void>((res) => server.listen(p, "127.0.0.1", res));
    return (server.address() as { port: number }).port;
  };
  const stop = () =>
    new Promise<void>((res) => {
      clients.forEach((c) => c.terminate());
      server.close(() => res());
      sockets.forEach((s) => s.destroy());
    });
  const port = await listen(0);

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    responseUrl: (id = String(Math.random()).slice(2)) => `http://127.0.0.1:${port}/respond/${id}`,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    waitFor(check, ms = 15_000, what = "a call") {
      return new Promise((resolve, reject) => {
        const test = () => {
          const v = check(calls);
          if (!v) return;
          finish();
          resolve(v);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`fake Slack: timed out waiting for ${what}; calls: ${JSON.stringify(calls.map((c) => [c.method, c.body.text ?? c.body]), null, 1).slice(0, 4000)}`));
        }, ms);
        const poll = setInterval(test, 50); // conditions on the bot's side (ledger, log) change without a call
        const finish = () => (clearTimeout(timer), clearInterval(poll), waiters.delete(test));
        waiters.add(test);
        test();
      });
    },
    rateLimit: (n) => void (limited = n),
    failMethod: (method, error) => void (error ? failures.set(method, error) : failures.delete(method)),
    async setDown(mode) {
      if (mode === "refused" && down !== "refused") await stop();
      if (mode !== "refused" && down === "refused") await listen(port);
      down = mode;
    },
    socket: {
      received,
      send: (envelope, to) => {
        const open = [...clients];
        if (open.length === 0) throw new Error("fake Slack: no Socket Mode connection is open");
        const c = open[to ?? turn++ % open.length];
        if (!c) throw new Error(`fake Slack: Socket Mode connection ${to} is not open (${open.length} are)`);
        c.send(JSON.stringify(envelope));
      },
      connections: () => clients.size,
      ackedOn: (id) => acks.filter((a) => a.envelope === id).map((a) => a.connection),
    },
    close: async () => {
      if (down !== "refused") await stop();
      down = "refused"; // closing twice is harmless
      wss.close();
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** JSON or form-encoded (the WebClient's way, with blocks as a JSON string): always a plain object. */
const asObject = (v: unknown): unknown => (typeof v === "string" ? safeJson(v) : v);

function parseBody(req: IncomingMessage, raw: string): Record<string, unknown> {
  if (!raw) return {};
  if (String(req.headers["content-type"]).includes("json")) return JSON.parse(raw) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) out[k] = /^[[{]/.test(v) ? safeJson(v) : v;
  return out;
}

const safeJson = (v: string): unknown => {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
};

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}
