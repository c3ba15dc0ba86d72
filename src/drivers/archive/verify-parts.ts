import { createHash, type Hash } from "node:crypto";
import { open, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { BackendError } from "../../errors.ts";
import type { CreateResult, DriverContext, VerifyResult } from "../driver.ts";
import { readManifest, type Manifest } from "./manifest.ts";
import { PARTS_DIR } from "./part-writer.ts";
import { startProgressTicker } from "./progress-ticker.ts";

// check: right after create, structure only (cheap). verify: re-read and re-hash every byte.

const READ_CHUNK = 4 * 1024 * 1024; // large reads: hashing, not syscalls, should be the cost

export async function checkParts(folder: string, result: CreateResult): Promise<VerifyResult> {
  const read = await readManifest(folder);
  if (read.state !== "ok") return failed([read.state === "missing" ? "manifest.json is missing" : read.problem]);
  const m = read.manifest;
  const problems: string[] = [];
  if (`sha256:${m.total.sha256}` !== result.checksum || m.total.size !== result.size)
    problems.push(`manifest.json total (${m.total.size} bytes, sha256 ${short(m.total.sha256)}) differs from what was written`);
  const recorded = JSON.stringify(result.parts.map((p) => [p.file, p.size, p.sha256]));
  if (JSON.stringify(m.parts.map((p) => [p.file, p.size, p.sha256])) !== recorded) problems.push("manifest.json parts differ from what was written");
  for (const p of m.parts) {
    const size = await sizeOf(join(folder, p.file));
    const problem = sizeProblem(p.file, size, p.size);
    if (problem) problems.push(problem);
  }
  return { ok: problems.length === 0, problems, checkedBytes: 0 };
}

export async function verifyParts(folder: string, ctx: DriverContext): Promise<VerifyResult> {
  const read = await readManifest(folder);
  if (read.state !== "ok") return failed([read.state === "missing" ? "manifest.json is missing" : read.problem]);
  const m = read.manifest;
  const problems = await extraParts(folder, m);
  const total = createHash("sha256");
  let totalUsable = true;
  let checked = 0;
  const ticker = startProgressTicker(ctx, "verifying", () => checked, m.total.size);
  try {
    for (const p of m.parts) {
      const size = await sizeOf(join(folder, p.file));
      const problem = sizeProblem(p.file, size, p.size);
      if (problem) {
        problems.push(problem);
        totalUsable = false; // the total cannot match either; one line per cause is enough
        continue;
      }
      const part = createHash("sha256");
      await hashFile(join(folder, p.file), [part, total], ctx.signal, (n) => (checked += n));
      const sum = part.digest("hex");
      if (sum !== p.sha256) problems.push(`${basename(p.file)} is corrupt: sha256 ${short(sum)}, manifest says ${short(p.sha256)}`);
    }
  } finally {
    ticker.stop();
  }
  if (totalUsable) {
    const sum = total.digest("hex");
    if (sum !== m.total.sha256 || checked !== m.total.size)
      problems.push(`the whole stream does not match: sha256 ${short(sum)} over ${checked} bytes, manifest says ${short(m.total.sha256)} over ${m.total.size}`);
  }
  return { ok: problems.length === 0, problems, checkedBytes: checked };
}

/**
 * Two buffers, reused: the next read runs in libuv's thread pool while this one is hashed, and nothing
 * is allocated per chunk (memory stays at 2 × READ_CHUNK whatever the part size).
 */
async function hashFile(path: string, hashes: Hash[], signal: AbortSignal, onBytes: (n: number) => void): Promise<void> {
  const h = await open(path, "r");
  const buffers = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
  let position = 0;
  let current = 0;
  let reading = h.read(buffers[0]!, 0, READ_CHUNK, 0);
  try {
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      if (signal.aborted) throw new BackendError("aborted", `verify of ${path} was cancelled`, { cause: signal.reason });
      const chunk = buffers[current]!.subarray(0, bytesRead);
      position += bytesRead;
      current ^= 1;
      reading = h.read(buffers[current]!, 0, READ_CHUNK, position);
      for (const hash of hashes) hash.update(chunk);
      onBytes(bytesRead);
    }
  } finally {
    await reading.catch(() => undefined); // never close the file under a read still in flight
    await h.close();
  }
}

async function extraParts(folder: string, m: Manifest): Promise<string[]> {
  const listed = new Set(m.parts.map((p) => basename(p.file)));
  const present = await readdir(join(folder, PARTS_DIR)).catch(() => [] as string[]);
  return present.filter((f) => !listed.has(f)).sort().map((f) => `${f} is not in the manifest`);
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

function sizeProblem(file: string, size: number | null, expected: number): string | null {
  if (size === null) return `${basename(file)} is missing`;
  if (size !== expected) return `${basename(file)} has ${size} bytes, manifest says ${expected}`;
  return null;
}

function failed(problems: string[]): VerifyResult {
  return { ok: false, problems, checkedBytes: 0 };
}

function short(hex: string): string {
  return `${hex.slice(0, 12)}…`;
}
