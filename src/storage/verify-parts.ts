import { createHash, type Hash } from "node:crypto";
import { basename } from "node:path";
import { BackendError } from "../errors.ts";
import type { CreateResult, DriverContext, VerifyResult } from "../drivers/driver.ts";
import { readManifest, type ManifestSchema, type StoredManifest } from "./manifest.ts";
import type { PartStore, SnapshotKey } from "./part-store.ts";
import { startProgressTicker } from "./progress-ticker.ts";

// check: right after create, structure only (cheap). verify: re-read and re-hash every byte. Both read the
// manifest with the driver's schema, so a manifest the driver could not restore from fails here too.

export async function checkParts<M extends StoredManifest>(
  store: PartStore,
  key: SnapshotKey,
  schema: ManifestSchema<M>,
  result: Pick<CreateResult, "checksum" | "size" | "parts">,
): Promise<VerifyResult> {
  const read = await readManifest(store, key, schema);
  if (read.state !== "ok") return failed([read.state === "missing" ? "manifest.json is missing" : read.problem]);
  const m = read.manifest;
  const problems: string[] = [];
  if (`sha256:${m.total.sha256}` !== result.checksum || m.total.size !== result.size)
    problems.push(`manifest.json total (${m.total.size} bytes, sha256 ${short(m.total.sha256)}) differs from what was written`);
  const recorded = JSON.stringify(result.parts.map((p) => [p.file, p.size, p.sha256]));
  const stored = JSON.stringify(m.parts.map((p) => [p.file, p.size, p.sha256]));
  if (stored !== recorded) problems.push("manifest.json parts differ from what was written");
  for (const p of m.parts) {
    const problem = sizeProblem(p.file, await store.stat(key, p.file), p.size);
    if (problem) problems.push(problem);
  }
  return { ok: problems.length === 0, problems, checkedBytes: 0 };
}

export async function verifyParts<M extends StoredManifest>(
  store: PartStore,
  key: SnapshotKey,
  schema: ManifestSchema<M>,
  ctx: DriverContext,
): Promise<VerifyResult> {
  const read = await readManifest(store, key, schema);
  if (read.state !== "ok") return failed([read.state === "missing" ? "manifest.json is missing" : read.problem]);
  const m = read.manifest;
  const problems = await extraParts(store, key, m);
  const total = createHash("sha256");
  let totalUsable = true;
  let checked = 0;
  const ticker = startProgressTicker(ctx, "verifying", () => checked, m.total.size);
  try {
    for (const p of m.parts) {
      const problem = sizeProblem(p.file, await store.stat(key, p.file), p.size);
      if (problem) {
        problems.push(problem);
        totalUsable = false; // the total cannot match either; one line per cause is enough
        continue;
      }
      const part = createHash("sha256");
      await hashPart(store, key, p.file, [part, total], ctx.signal, (n) => (checked += n));
      const sum = part.digest("hex");
      if (sum !== p.sha256) problems.push(`${basename(p.file)} is corrupt: sha256 ${short(sum)}, manifest says ${short(p.sha256)}`);
    }
  } finally {
    ticker.stop();
  }
  if (totalUsable) {
    const sum = total.digest("hex");
    if (sum !== m.total.sha256 || checked !== m.total.size)
      problems.push(
        `the whole stream does not match: sha256 ${short(sum)} over ${checked} bytes, ` +
          `manifest says ${short(m.total.sha256)} over ${m.total.size}`,
      );
  }
  return { ok: problems.length === 0, problems, checkedBytes: checked };
}

async function hashPart(
  store: PartStore,
  key: SnapshotKey,
  file: string,
  hashes: Hash[],
  signal: AbortSignal,
  onBytes: (n: number) => void,
): Promise<void> {
  for await (const chunk of store.readChunks(key, file, { signal })) {
    if (signal.aborted) throw new BackendError("aborted", `verify of ${store.where(key)}/${file} was cancelled`, { cause: signal.reason });
    for (const hash of hashes) hash.update(chunk);
    onBytes(chunk.length);
  }
}

async function extraParts(store: PartStore, key: SnapshotKey, m: StoredManifest): Promise<string[]> {
  const listed = new Set(m.parts.map((p) => p.file));
  return (await store.listParts(key)).filter((f) => !listed.has(f)).map((f) => `${basename(f)} is not in the manifest`);
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
