import { formatBytes } from "../../duration.ts";
import { UserError } from "../../errors.ts";
import type { Runner, Stage } from "../../transport/runner.ts";
import type { DriverContext, VerifyResult } from "../driver.ts";
import { readManifest } from "../../storage/manifest.ts";
import type { PartStore, SnapshotKey } from "../../storage/part-store.ts";
import { startProgressTicker } from "../../storage/progress-ticker.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";
import { plainParts, undecryptable } from "../../storage/encryption/sealed-parts.ts";
import { manifestSchema, type Manifest } from "./archive-manifest.ts";
import { decompressor } from "./parts-stream.ts";

// verify --full: after the parts' hashes (plain verify), the whole stream read as a restore reads it, with
// nothing written: decrypted when encrypted (age's MAC over every chunk, to the last one), decompressed, and a
// tar archive listed by tar to its end; the bytes that come out must be the uncompressed size recorded at
// create. For an unencrypted snapshot that is the same check minus age: what "does it still restore?" asks.
// It runs on this machine (the parts are here) with the local zstd/gzip and tar.

const TAR_READ = /^Total bytes read: (\d+)/m; // GNU tar -t --totals, on stderr

export async function verifyFull(
  store: PartStore,
  key: SnapshotKey,
  hashed: VerifyResult,
  runner: Runner,
  atRest: AtRest,
  ctx: DriverContext,
): Promise<VerifyResult> {
  if (!hashed.ok) return hashed; // a part that does not match is reason enough; its bytes are not read again
  const read = await readManifest(store, key, manifestSchema);
  if (read.state !== "ok") return { ...hashed, ok: false, problems: ["manifest.json changed while it was being verified"] };
  const m = read.manifest;
  const got = await readToTheEnd(store, key, m, runner, atRest, ctx);
  const problems = got.problem ? [got.problem] : sizeProblems(m, got.plainBytes);
  const what = `${m.encryption ? "decrypted (age's MAC checked on every chunk), " : ""}decompressed${m.mode === "tar" ? " and listed by tar" : ""}`;
  const notes = problems.length ? [] : [`${what} to its end: ${got.plainBytes === null ? "size not reported" : formatBytes(got.plainBytes)}`];
  return { ok: problems.length === 0, problems, checkedBytes: hashed.checkedBytes, notes };
}

interface ReadBack {
  problem: string | null;
  plainBytes: number | null; // what decompressing gave: the tar archive's or the image's bytes
}

async function readToTheEnd(store: PartStore, key: SnapshotKey, m: Manifest, runner: Runner, atRest: AtRest, ctx: DriverContext): Promise<ReadBack> {
  let inputError: unknown = null;
  let streamed = 0;
  const input = plainParts(store, key, m, atRest, (n) => (streamed += n), (e) => (inputError ??= e)); // no identity: throws now
  const lister: Stage[] = m.mode === "tar" ? [{ cmd: "tar", args: ["-t", "--totals", "-f", "-"] }] : [];
  const pipe = runner.pipeline([decompressor(m), ...lister], { input, signal: ctx.signal, env: { LC_ALL: "C" } });
  let out = 0;
  pipe.stdout.on("data", (c: Buffer) => (out += c.length)); // raw: the image; tar: its listing, not kept
  const ticker = startProgressTicker(ctx, m.encryption ? "decrypting" : "decompressing", () => streamed, m.total.size);
  let stderr = "";
  let runError: unknown = null;
  try {
    stderr = (await pipe.done).stderr;
  } catch (e) {
    runError = e;
  } finally {
    ticker.stop();
    input.destroy();
  }
  if (inputError instanceof UserError) throw inputError; // the key file is wrong: the snapshot is not broken for that
  if (ctx.signal.aborted) throw runError ?? inputError;
  if (inputError) return { problem: m.encryption ? undecryptable(inputError) : `the stored stream cannot be read: ${String(inputError)}`, plainBytes: null };
  if (runError) return { problem: `it does not ${m.mode === "tar" ? "decompress and list" : "decompress"} to its end: ${(runError as Error).message}`, plainBytes: null };
  const listed = TAR_READ.exec(stderr);
  return { problem: null, plainBytes: m.mode === "tar" ? (listed ? Number(listed[1]) : null) : out };
}

function sizeProblems(m: Manifest, plainBytes: number | null): string[] {
  if (m.uncompressed_size === undefined || plainBytes === null || plainBytes === m.uncompressed_size) return [];
  return [`it decompresses to ${plainBytes} bytes, the manifest says ${m.uncompressed_size}`];
}
