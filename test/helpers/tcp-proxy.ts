import { connect, createServer, type Socket } from "node:net";

// A TCP proxy on 127.0.0.1 that a test controls, to put faults between snapbot and a real server (the Ceph
// gateway, sshd…): pass bytes through, refuse connections, cut or stall the connection after N bytes, or flip
// one byte. Bytes are counted in one direction ("up": client → server, what an upload sends; "down": server →
// client, what a download reads) across all connections since the fault was set, so "cut after 3 MiB" hits
// whichever request carries the 3rd MiB. A fault fires `times` times (default: every time), then the proxy
// passes everything again; after each firing the count starts from 0.

export type Fault =
  | { kind: "pass" }
  | { kind: "refuse" } // accept, then close at once
  | { kind: "cut"; afterBytes: number; direction?: Direction } // both sockets destroyed mid-stream
  | { kind: "stall"; afterBytes: number; direction?: Direction } // nothing more forwarded either way; sockets stay open
  | { kind: "corrupt"; atByte: number; direction?: Direction }; // that byte's bits flipped, the rest passes
export type Direction = "up" | "down";

export interface TcpProxy {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  set(fault: Fault, opts?: { times?: number }): void;
  /** Connections open now. */
  open(): number;
  /** Connections the stall fault holds now (open, nothing forwarded). */
  stalled(): number;
  /** Connections accepted since start. */
  accepted(): number;
  /** How often the current fault has fired since it was set. */
  fired(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  server: Socket;
  stalled: boolean;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  let fault: Fault = { kind: "pass" };
  let left = Infinity;
  let count = 0;
  let fired = 0;
  let accepted = 0;
  const pairs = new Set<Pair>();

  const fire = () => {
    fired++;
    count = 0;
    if (--left <= 0) fault = { kind: "pass" };
  };
  /** What to do with a chunk going `dir`: forward (maybe altered), or the fault's action at an offset. */
  const onChunk = (pair: Pair, dir: Direction, chunk: Buffer, to: Socket) => {
    if (pair.stalled) return;
    const f = fault;
    if (f.kind === "pass" || f.kind === "refuse" || (f.direction ?? "up") !== dir) return void to.write(chunk);
    const at = f.kind === "corrupt" ? f.atByte : f.afterBytes;
    if (count + chunk.length <= at) {
      count += chunk.length;
      return void to.write(chunk);
    }
    const head = chunk.subarray(0, at - count);
    if (f.kind === "corrupt") {
      const copy = Buffer.from(chunk);
      copy[at - count] = copy[at - count]! ^ 0xff;
      fire();
      return void to.write(copy);
    }
    if (head.length) to.write(head);
    fire();
    if (f.kind === "cut") {
      pair.client.destroy();
      pair.server.destroy();
    } else pair.stalled = true;
  };

  const proxy = createServer((client) => {
    accepted++;
    if (fault.kind === "refuse") {
      fire();
      client.destroy();
      return;
    }
    const server = connect(target.port, target.host ?? "127.0.0.1");
    const pair: Pair = { client, server, stalled: false };
    pairs.add(pair);
    client.on("data", (c: Buffer) => onChunk(pair, "up", c, server));
    server.on("data", (c: Buffer) => onChunk(pair, "down", c, client));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on("close", end);
    server.on("close", end);
    client.on("error", end);
    server.on("error", end);
    client.on("end", () => !pair.stalled && server.end());
    server.on("end", () => !pair.stalled && client.end());
  });
  await new Promise<void>((resolve, reject) => {
    proxy.once("error", reject);
    proxy.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (proxy.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    set(f, opts = {}) {
      fault = f;
      left = opts.times ?? Infinity;
      count = 0;
      fired = 0;
    },
    open: () => pairs.size,
    stalled: () => [...pairs].filter((p) => p.stalled).length,
    accepted: () => accepted,
    fired: () => fired,
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) (p.client.destroy(), p.server.destroy());
        proxy.close(() => resolve());
      }),
  };
}
