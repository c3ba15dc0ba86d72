import { createHash, randomUUID } from "node:crypto";
import { once } from "node:events";
import type { Writable } from "node:stream";
import { gunzipSync } from "node:zlib";

// Consul's snapshot archive as hashicorp/consul's snapshot/archive.go writes it, for the local Consul server:
// a tar (Go's archive/tar, USTAR headers, mode 0600, uid/gid 0, ModTime rounded to the second, closed by two
// zero blocks) of meta.json (raft.SnapshotMeta as json.Encoder writes it: one line ending in "\n"), state.bin
// (metadata.Size bytes) and SHA256SUMS ("<hex>  <file>\n" per file, in Go's random map order), gzipped by
// snapshot.go. Written independently of src/drivers/consul (the reader under test) so neither can mask the other.

export type ArchiveFault = "wrong-hash" | "extra-file" | "no-sums";

export interface RaftMeta {
  Version: number;
  ID: string;
  Index: number;
  Term: number;
  Peers: string;
  Configuration: { Servers: Array<{ Suffrage: number; ID: string; Address: string }> };
  ConfigurationIndex: number;
  Size: number;
}

export function raftMeta(index: number, term: number, size: number, now = Date.now()): RaftMeta {
  // raft's snapshot ID is "<term>-<index>-<unix ms>"; Peers is the legacy encoded peer set (a []byte: base64 in JSON).
  const address = "127.0.0.1:8300";
  return {
    Version: 1,
    ID: `${term}-${index}-${now}`,
    Index: index,
    Term: term,
    Peers: Buffer.from(`["${address}"]`).toString("base64"),
    Configuration: { Servers: [{ Suffrage: 0, ID: randomUUID(), Address: address }] },
    ConfigurationIndex: 1,
    Size: size,
  };
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/** One USTAR header block as Go's tar.Writer writes it for a regular file. */
export function tarHeader(name: string, size: number, mtime: Date): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write(octal(0o600, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(Math.round(mtime.getTime() / 1000), 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write("0", 156, "ascii");
  h.write("ustar\u000000", 257, "ascii");
  h.write(octal(0, 8), 329, "ascii");
  h.write(octal(0, 8), 337, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

const pad = (size: number) => Buffer.alloc((512 - (size % 512)) % 512);

async function put(out: Writable, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, "drain");
}

/** Shuffled like Go's map iteration: a reader must not depend on the order of SHA256SUMS. */
function sumsText(sums: Map<string, string>): string {
  const lines = [...sums].map(([file, hex]) => `${hex}  ${file}\n`);
  for (let i = lines.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [lines[i], lines[j]] = [lines[j]!, lines[i]!];
  }
  return lines.join("");
}

/** Writes the (uncompressed) tar to `out`, state.bin from `state` (meta.Size bytes in all); `out` is not ended. */
export async function writeArchive(out: Writable, meta: RaftMeta, state: AsyncIterable<Buffer>, fault?: ArchiveFault): Promise<void> {
  const now = new Date();
  const metaBytes = Buffer.from(JSON.stringify(meta) + "\n");
  const sums = new Map<string, string>([["meta.json", createHash("sha256").update(metaBytes).digest("hex")]]);
  await put(out, Buffer.concat([tarHeader("meta.json", metaBytes.length, now), metaBytes, pad(metaBytes.length)]));
  await put(out, tarHeader("state.bin", meta.Size, now));
  const hash = createHash("sha256");
  for await (const chunk of state) {
    hash.update(chunk);
    await put(out, chunk);
  }
  await put(out, pad(meta.Size));
  sums.set("state.bin", fault === "wrong-hash" ? "0".repeat(64) : hash.digest("hex"));
  if (fault === "extra-file") {
    const extra = Buffer.from("not part of a Consul snapshot\n");
    await put(out, Buffer.concat([tarHeader("extra.txt", extra.length, now), extra, pad(extra.length)]));
  }
  if (fault !== "no-sums") {
    const text = Buffer.from(sumsText(sums));
    await put(out, Buffer.concat([tarHeader("SHA256SUMS", text.length, now), text, pad(text.length)]));
  }
  await put(out, Buffer.alloc(1024));
}

export interface ReadArchive {
  meta: RaftMeta;
  state: Buffer;
}

/** The server's side of PUT /v1/snapshot: snapshot.Read's checks, on a whole (small) body. Throws Consul's wording. */
export function readArchive(gz: Buffer): ReadArchive {
  let tar: Buffer;
  try {
    tar = gunzipSync(gz);
  } catch (e) {
    throw new Error(`failed to decompress snapshot: ${(e as Error).message}`);
  }
  const files = new Map<string, Buffer>();
  for (let at = 0; at + 512 <= tar.length; ) {
    const h = tar.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.toString("utf8", 0, 100).replace(/\0.*$/s, "");
    const size = parseInt(h.toString("ascii", 124, 136).replace(/\0.*$/s, "").trim() || "0", 8);
    if (!["meta.json", "state.bin", "SHA256SUMS"].includes(name)) throw new Error(`failed to read snapshot file: unexpected file "${name}" in snapshot`);
    files.set(name, tar.subarray(at + 512, at + 512 + size));
    at += 512 + size + ((512 - (size % 512)) % 512);
  }
  const sums = (files.get("SHA256SUMS") ?? Buffer.alloc(0)).toString().split("\n").filter(Boolean);
  const seen = new Set<string>();
  for (const line of sums) {
    const [hex, file] = line.split("  ");
    const body = files.get(file ?? "");
    if (!body || !["meta.json", "state.bin"].includes(file!)) throw new Error(`failed checking integrity of snapshot: list missing hash for "${file}"`);
    if (createHash("sha256").update(body).digest("hex") !== hex) throw new Error(`failed checking integrity of snapshot: hash check failed for "${file}"`);
    seen.add(file!);
  }
  for (const file of ["meta.json", "state.bin"])
    if (!seen.has(file)) throw new Error(`failed checking integrity of snapshot: file missing for "${file}"`);
  return { meta: JSON.parse(files.get("meta.json")!.toString()) as RaftMeta, state: Buffer.from(files.get("state.bin")!) };
}
