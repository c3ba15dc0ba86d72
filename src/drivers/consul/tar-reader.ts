// A minimal streaming tar reader: enough for Consul's snapshot archive (regular files in USTAR headers, as Go's
// archive/tar writes them; PAX "x" headers and base-256 sizes for members over 8 GiB), fed bytes as they arrive
// so a multi-GiB state.bin is hashed in passing and never held. Anything else is refused, not skipped: a reader
// that skips what it does not understand would let a file through that Consul's restore rejects.

export interface TarHandlers {
  /** A member starts; the reader then hands its body to data() in order, and calls end(). */
  entry(name: string, size: number): void;
  data(chunk: Buffer): void;
  end(): void;
}

const BLOCK = 512;

function field(h: Buffer, at: number, len: number): string {
  const raw = h.subarray(at, at + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? len : nul).toString("utf8");
}

function numeric(h: Buffer, at: number, len: number): number {
  // Base-256 (GNU, and Go for sizes octal cannot hold): the high bit of the first byte is set.
  if (h[at]! & 0x80) {
    let n = h[at]! & 0x7f;
    for (let i = 1; i < len; i++) n = n * 256 + h[at + i]!;
    return n;
  }
  const text = field(h, at, len).trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`bad number ${JSON.stringify(text)} in a tar header`);
  return text === "" ? 0 : parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return numeric(h, 148, 8) === sum;
}

/** PAX records "<len> key=value\n": only path and size change what follows. */
function paxRecords(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of body.toString("utf8").split("\n")) {
    const m = /^\d+ ([^=]+)=(.*)$/s.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

export interface TarReader {
  write(chunk: Buffer): void;
  /** The input has ended: throws unless the archive ended properly (two zero blocks, nothing after them). */
  finish(): void;
}

export function createTarReader(h: TarHandlers): TarReader {
  let header = Buffer.alloc(0); // bytes of the block being collected (a header, or an end block)
  let left = 0; // body bytes of the current member still to come
  let padding = 0;
  let zeros = 0; // end-of-archive blocks seen
  let pax: { size: number; body: Buffer[] } | null = null;
  let override = new Map<string, string>();

  function onHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) return void zeros++;
    if (zeros > 0) throw new Error("data after the end of the archive");
    if (!checksumOk(block)) throw new Error("a tar header with a bad checksum");
    const type = String.fromCharCode(block[156]!);
    const size = override.has("size") ? Number(override.get("size")) : numeric(block, 124, 12);
    const prefix = field(block, 345, 155);
    const name = override.get("path") ?? (prefix ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100));
    override = new Map();
    left = size;
    padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (type === "x") pax = { size, body: [] };
    else if (type === "0" || type === "\0") h.entry(name, size);
    else throw new Error(`unexpected tar member ${JSON.stringify(name)} (type ${JSON.stringify(type)})`);
    if (left === 0) endBody();
  }

  function endBody(): void {
    if (pax) {
      override = paxRecords(Buffer.concat(pax.body));
      pax = null;
    } else h.end();
  }

  function body(chunk: Buffer): void {
    if (pax) {
      if (pax.body.reduce((n, b) => n + b.length, 0) + chunk.length > 65536) throw new Error("a PAX header over 64 KiB");
      pax.body.push(Buffer.from(chunk));
    } else h.data(chunk);
  }

  return {
    write(chunk) {
      for (let at = 0; at < chunk.length; ) {
        if (left > 0) {
          const n = Math.min(left, chunk.length - at);
          body(chunk.subarray(at, at + n));
          at += n;
          left -= n;
          if (left === 0) endBody();
        } else if (padding > 0) {
          const n = Math.min(padding, chunk.length - at);
          at += n;
          padding -= n;
        } else {
          if (zeros >= 2) throw new Error("data after the end of the archive");
          const n = Math.min(BLOCK - header.length, chunk.length - at);
          header = Buffer.concat([header, chunk.subarray(at, at + n)]);
          at += n;
          if (header.length === BLOCK) {
            const block = header;
            header = Buffer.alloc(0);
            onHeader(block);
          }
        }
      }
    },
    finish() {
      if (left > 0 || padding > 0 || header.length > 0) throw new Error("the archive ends inside a member");
      if (zeros < 2) throw new Error("the archive has no end (two zero blocks)");
    },
  };
}
