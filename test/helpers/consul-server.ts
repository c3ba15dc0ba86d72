import { createReadStream } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { PassThrough } from "node:stream";
import { createGzip } from "node:zlib";
import { raftMeta, readArchive, writeArchive, type ArchiveFault } from "./consul-archive.ts";

// A local Consul server for the tests (Consul is not packaged here; DESIGN.md §5), speaking the documented HTTP
// API on 127.0.0.1: GET /v1/snapshot[?stale] streams a real archive (consul-archive.ts) with X-Consul-Index,
// X-Consul-KnownLeader and X-Consul-LastContact; PUT /v1/snapshot checks the archive as snapshot.Read does and
// replaces the state; GET /v1/agent/self (Config.Version, Member.Tags.build) and /v1/status/leader. Tokens come
// in X-Consul-Token: an unknown one is 403 "ACL not found", one without management rights (mode forbidden) 403
// "Permission denied" on the snapshot endpoints, as Consul answers.

export type ConsulMode =
  | "leader"
  | "no-leader" // no cluster leader: consistent reads 500 "No cluster leader", ?stale served by this follower
  | "leader-down" // a leader is known in the headers but /v1/status/leader fails (500)
  | "leader-lost" // status/leader still names one, but the consistent read finds none (lost in between)
  | "forbidden" // the token lacks management rights: snapshot endpoints 403
  | "slow" // headers and the first bytes, then nothing (until the client gives up)
  | "cut" // the connection is destroyed mid-body
  | "truncated-gzip" // the response ends cleanly but the gzip stream lacks its tail
  | ArchiveFault;

export interface ConsulServerOptions {
  token?: string; // when set, every request must carry it
  version?: string; // the cluster's Consul version (agent/self)
  datacenter?: string;
  stateSize?: number; // bytes of generated state.bin (a bench asks for 512 MiB); replaced by a restore
  marker?: string; // written at the start of the generated state, so a test can look for plaintext
  /** A ready archive file served as is by GET /v1/snapshot (a bench: no gzip work on the serving side). */
  archiveFile?: string;
}

export interface ConsulServer {
  url: string;
  mode: ConsulMode;
  version: string;
  lastContactMs: number;
  /** The Raft index and term the next snapshot reports. */
  index: number;
  term: number;
  /** state.bin as restored by the last PUT (null while the generated state is served). */
  restored: Buffer | null;
  /** Every request seen: method, url, the token header. */
  requests: Array<{ method: string; url: string; token: string | undefined }>;
  setStateSize(bytes: number, marker?: string): void;
  connections(): number;
  /** GET /v1/snapshot responses open now (a hung one stays open until the client gives up). */
  streaming(): number;
  close(): Promise<void>;
}

const CHUNK = 1 << 20;
const FAULT_AT = 1024; // slow and cut: the body bytes sent before the fault

async function* generated(size: number, marker: string): AsyncGenerator<Buffer> {
  const head = Buffer.from(marker);
  const block = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i++) block[i] = (i * 2654435761) >>> 24; // not all zeros: gzip has work to do
  for (let sent = 0; sent < size; ) {
    const n = Math.min(CHUNK, size - sent);
    const chunk = sent === 0 ? Buffer.concat([head, block]).subarray(0, n) : block.subarray(0, n);
    sent += n;
    yield chunk;
  }
}

function deny(res: ServerResponse, text: string): void {
  res.writeHead(403, { "Content-Type": "text/plain; charset=utf-8" }).end(text);
}

export async function startConsulServer(opts: ConsulServerOptions = {}): Promise<ConsulServer> {
  let stateSize = opts.stateSize ?? 64 * 1024;
  let marker = opts.marker ?? "consul-state-marker";
  const sockets = new Set<Socket>();
  let streaming = 0;
  const s: ConsulServer = {
    url: "",
    mode: "leader",
    version: opts.version ?? "1.17.2",
    lastContactMs: 0,
    index: 1042,
    term: 3,
    restored: null,
    requests: [],
    setStateSize(bytes, m) {
      stateSize = bytes;
      if (m !== undefined) marker = m;
      s.restored = null;
    },
    connections: () => sockets.size,
    streaming: () => streaming,
    close: () =>
      new Promise((resolve) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => resolve());
      }),
  };
  const leaderless = () => s.mode === "no-leader";
  // leader-lost: only the snapshot request sees it; a stale one is then served without a known leader.

  const headers = (stale: boolean) => ({
    "X-Consul-Index": String(s.index),
    "X-Consul-KnownLeader": String(!leaderless() && !(stale && s.mode === "leader-lost")),
    "X-Consul-LastContact": String(stale && leaderless() ? Math.max(s.lastContactMs, 1) : s.lastContactMs),
  });

  async function getSnapshot(req: IncomingMessage, res: ServerResponse, stale: boolean): Promise<void> {
    if ((leaderless() || s.mode === "leader-lost") && !stale) return void res.writeHead(500).end("No cluster leader");
    if (opts.archiveFile && !s.restored) {
      res.writeHead(200, { "Content-Type": "application/octet-stream", ...headers(stale) });
      return void createReadStream(opts.archiveFile).pipe(res);
    }
    const state = s.restored;
    const size = state ? state.length : stateSize;
    const meta = raftMeta(s.index, s.term, size);
    res.writeHead(200, { "Content-Type": "application/octet-stream", ...headers(stale) });
    streaming++;
    res.once("close", () => streaming--);
    const gz = createGzip();
    const fault = (["wrong-hash", "extra-file", "no-sums"] as const).find((f) => f === s.mode);
    const body = state ? (async function* () { yield state; })() : generated(size, marker);
    if (s.mode === "truncated-gzip") {
      const parts: Buffer[] = [];
      gz.on("data", (c: Buffer) => parts.push(c));
      await writeArchive(gz, meta, body);
      gz.end();
      await new Promise((r) => gz.on("end", r));
      const all = Buffer.concat(parts);
      return void res.end(all.subarray(0, all.length - 24));
    }
    // Written by hand rather than piped, so slow and cut can stop after exactly FAULT_AT bytes of the body.
    let sent = 0;
    gz.on("data", (c: Buffer) => {
      const faulty = s.mode === "slow" || s.mode === "cut";
      const chunk = faulty ? c.subarray(0, Math.max(0, FAULT_AT - sent)) : c;
      sent += chunk.length;
      const more = res.write(chunk, () => {
        if (s.mode === "cut" && sent >= FAULT_AT) req.socket.destroy();
      });
      if (faulty && sent >= FAULT_AT) gz.pause(); // slow: nothing more is sent, the connection stays open
      else if (!more) {
        gz.pause();
        res.once("drain", () => gz.resume());
      }
    });
    gz.on("end", () => res.end());
    res.on("close", () => gz.destroy());
    writeArchive(gz, meta, body, fault).then(() => gz.end(), () => gz.destroy());
  }

  async function putSnapshot(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (leaderless()) return void res.writeHead(500).end("No cluster leader");
    try {
      const { state } = readArchive(Buffer.concat(chunks));
      s.restored = state;
      s.index += 1;
      res.writeHead(200).end();
    } catch (e) {
      res.writeHead(500).end((e as Error).message);
    }
  }

  function agentSelf(res: ServerResponse): void {
    const dc = opts.datacenter ?? "dc1";
    const body = {
      Config: { Datacenter: dc, PrimaryDatacenter: dc, NodeName: "consul-1", NodeID: "b7a4c1f0-0000-4000-8000-000000000001", Revision: "4e3f428b", Server: true, Version: s.version, BuildDate: "2024-01-23T00:00:00Z" },
      Member: { Name: "consul-1", Addr: "127.0.0.1", Port: 8301, Tags: { build: `${s.version}:4e3f428b`, dc, role: "consul", port: "8300", vsn: "2", raft_vsn: "3" }, Status: 1 },
      Stats: { raft: { state: leaderless() ? "Follower" : "Leader" } },
      Meta: { "consul-network-segment": "" },
    };
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://consul");
    const token = req.headers["x-consul-token"] as string | undefined;
    s.requests.push({ method: req.method ?? "", url: url.pathname + url.search, token });
    if (opts.token !== undefined && token !== opts.token) return deny(res, "ACL not found");
    const snapshot = url.pathname === "/v1/snapshot";
    if (snapshot && s.mode === "forbidden") return deny(res, "Permission denied");
    if (snapshot && req.method === "GET") return getSnapshot(req, res, url.searchParams.has("stale"));
    if (snapshot && req.method === "PUT") return putSnapshot(req, res);
    if (url.pathname === "/v1/agent/self" && req.method === "GET") return agentSelf(res);
    if (url.pathname === "/v1/status/leader" && req.method === "GET") {
      if (s.mode === "leader-down") return void res.writeHead(500).end("rpc error: No cluster leader");
      return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(leaderless() ? "" : "127.0.0.1:8300"));
    }
    res.writeHead(404).end(`Invalid URL path: not a recognized HTTP API endpoint`);
  }

  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  server.on("connection", (sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return s;
}
