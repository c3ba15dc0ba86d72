import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";
import { createGunzip, type Gunzip, type ZlibOptions } from "node:zlib";
import { ConsulError } from "./consul-errors.ts";
import { createTarReader, type TarReader } from "./tar-reader.ts";
import { offThreadHash, type OffThreadHash, type SpawnHashWorker } from "../../storage/hash-thread.ts";

// Consul's snapshot checks (snapshot.Verify and archive.go's read), done on the bytes as they pass on their way
// into the parts: gunzip (on the thread pool), then tar, exactly meta.json, state.bin and SHA256SUMS, every hash
// matching, nothing after the archive's end. state.bin, all but a few hundred bytes of the archive, is hashed on
// a thread of its own, beside the main thread's download and part writes. The stream is passed through
// unchanged; when the input ends the checks run and a failure is the stream's error, so the parts are removed
// and the snapshot never counts.

/** meta.json as Consul's `snapshot inspect` shows it (raft.SnapshotMeta). */
export interface ConsulArchiveInfo {
  id: string;
  index: number;
  term: number;
  /** The snapshot format's version (raft's SnapshotVersion), not Consul's. */
  version: number;
  /** state.bin's bytes (meta.json's Size). */
  size: number;
}

const MEMBERS = ["meta.json", "state.bin", "SHA256SUMS"] as const;
type Member = (typeof MEMBERS)[number];
const SMALL_MAX = 1 << 20; // meta.json and SHA256SUMS are a few hundred bytes; a huge one is not Consul's

interface Seen {
  /** The small members' hashes, on this thread; state.bin's is `state`'s, on a thread of its own. */
  hashes: Map<Member, Hash | "off-thread">;
  small: Map<Member, Buffer[]>;
  current: Member | null;
  state: OffThreadHash | null;
  /** state.bin's bytes not yet taken by its hashing thread: the inflated stream waits for them. */
  behind: Promise<void> | null;
}

function tarHandlers(seen: Seen, spawn: SpawnHashWorker | undefined) {
  return {
    entry(name: string) {
      if (!(MEMBERS as readonly string[]).includes(name)) throw new Error(`unexpected file "${name}" in snapshot`);
      if (seen.hashes.has(name as Member)) throw new Error(`"${name}" appears twice in the snapshot`);
      seen.current = name as Member;
      if (name === "state.bin") {
        seen.state = offThreadHash("sha256", spawn);
        seen.hashes.set(seen.current, "off-thread");
      } else {
        seen.hashes.set(seen.current, createHash("sha256"));
        seen.small.set(seen.current, []);
      }
    },
    data(chunk: Buffer) {
      const hash = seen.hashes.get(seen.current!)!;
      if (hash === "off-thread") {
        try {
          seen.behind = seen.state!.write(chunk) ?? null;
        } catch (e) {
          throw hashFailed(e); // the thread failed on earlier bytes
        }
        return;
      }
      hash.update(chunk);
      const small = seen.small.get(seen.current!)!;
      small.push(Buffer.from(chunk));
      if (small.reduce((n, b) => n + b.length, 0) > SMALL_MAX) throw new Error(`${seen.current} is over 1 MiB`);
    },
    end() {
      seen.current = null;
    },
  };
}

/** snapbot's own failure, not the archive's: said as such, with what to do. */
function hashFailed(e: unknown): ConsulError {
  return new ConsulError("hash_failed", `state.bin could not be hashed (${(e as Error).message}): nothing was kept; take the snapshot again`, { cause: e });
}

function parseMeta(text: string): ConsulArchiveInfo {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error("failed to decode snapshot metadata: meta.json is not JSON");
  }
  const num = (k: string) => (typeof m[k] === "number" && Number.isSafeInteger(m[k]) ? (m[k] as number) : NaN);
  const info = { id: typeof m.ID === "string" ? m.ID : "", index: num("Index"), term: num("Term"), version: num("Version"), size: num("Size") };
  if (!info.id || [info.index, info.term, info.version, info.size].some(Number.isNaN))
    throw new Error("failed to decode snapshot metadata: meta.json lacks ID, Index, Term, Version or Size");
  return info;
}

/** archive.go's DecodeAndVerify: every line names a file we hashed, with its hash; every file hashed is listed. */
async function verifySums(seen: Seen): Promise<ConsulArchiveInfo> {
  const sums = seen.small.get("SHA256SUMS");
  if (!sums) throw new Error("failed checking integrity of snapshot: no SHA256SUMS in the archive");
  const state = await seen.state!.digest().catch((e: unknown) => {
    throw hashFailed(e);
  });
  const digests = new Map([...seen.hashes].map(([f, h]) => [f as string, h === "off-thread" ? state : h.digest("hex")]));
  const listed = new Set<string>();
  for (const line of Buffer.concat(sums).toString("utf8").split("\n").filter((l) => l !== "")) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/i.exec(line);
    if (!m) throw new Error(`failed checking integrity of snapshot: a bad SHA256SUMS line ${JSON.stringify(line.slice(0, 80))}`);
    const [, hex, file] = m;
    if (file === "SHA256SUMS" || !digests.has(file!)) throw new Error(`failed checking integrity of snapshot: list missing hash for "${file}"`);
    if (digests.get(file!) !== hex!.toLowerCase()) throw new Error(`failed checking integrity of snapshot: hash check failed for "${file}"`);
    listed.add(file!);
  }
  for (const file of ["meta.json", "state.bin"])
    if (!listed.has(file)) throw new Error(`failed checking integrity of snapshot: file missing for "${file}"`);
  return parseMeta(Buffer.concat(seen.small.get("meta.json")!).toString("utf8"));
}

export interface ArchiveCheck {
  /** Put it in the stream: bytes pass through unchanged; it fails (and so the stream) when the archive is not Consul's. */
  stream: Transform;
  /** meta.json's fields, once the stream has ended and every check passed. */
  info(): ConsulArchiveInfo;
  /** Uncompressed tar bytes seen so far. */
  tarBytes(): number;
}

/** `spawn`: how the state.bin hashing thread starts (tests pass one that breaks it). */
export function createArchiveCheck(o: { spawn?: SpawnHashWorker } = {}): ArchiveCheck {
  const seen: Seen = { hashes: new Map(), small: new Map(), current: null, state: null, behind: null };
  const tar: TarReader = createTarReader(tarHandlers(seen, o.spawn));
  // A deep buffer in front of gunzip (it inflates on the thread pool): the download runs ahead instead of waiting
  // for every 64 KiB chunk to be inflated before the next is read.
  const gunzip: Gunzip = createGunzip({ chunkSize: 256 * 1024, writableHighWaterMark: 8 * 1024 * 1024 } as ZlibOptions);
  let failure: Error | null = null;
  let tarBytes = 0;
  let result: ConsulArchiveInfo | null = null;
  gunzip.on("data", (c: Buffer) => {
    if (failure) return;
    tarBytes += c.length;
    try {
      tar.write(c);
    } catch (e) {
      failure = e as Error;
    }
    // state.bin's hashing thread is behind: no more inflated bytes until it has taken these (8 MiB held at most).
    const behind = seen.behind;
    if (!behind) return;
    seen.behind = null;
    gunzip.pause();
    behind.then(
      () => gunzip.resume(),
      (e: unknown) => {
        failure ??= hashFailed(e);
        gunzip.resume(); // to its end (the stream fails at its flush): nothing more is hashed
      },
    );
  });
  let waiting: (() => void) | null = null; // a chunk held until gunzip drains (or fails: then never drains)
  const ended = new Promise<void>((resolve) => {
    gunzip.once("end", resolve);
    gunzip.once("error", (e) => {
      failure ??= new Error(`failed to decompress snapshot: ${e.message}`);
      waiting?.();
      resolve();
    });
  });
  // What the archive is wrong about; snapbot's own failure (hash_failed) goes on as it is.
  const fail = (e: Error) => (e instanceof ConsulError ? e : new ConsulError("archive_invalid", `the snapshot is not a valid Consul archive: ${e.message}`, { cause: e }));

  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (failure) return cb(fail(failure));
      // The side branch is backpressured too: a slow gunzip slows the download instead of buffering it.
      if (gunzip.write(chunk)) return cb(null, chunk);
      const resume = () => {
        waiting = null;
        gunzip.off("drain", resume);
        cb(null, chunk);
      };
      waiting = resume;
      gunzip.once("drain", resume);
    },
    flush(cb: TransformCallback) {
      gunzip.end();
      void ended.then(() => {
        try {
          if (failure) throw failure;
          tar.finish();
          for (const m of MEMBERS) if (m !== "SHA256SUMS" && !seen.hashes.has(m)) throw new Error(`${m} is missing`);
        } catch (e) {
          return cb(fail(e as Error));
        }
        verifySums(seen).then(
          (info) => {
            result = info;
            cb();
          },
          (e: unknown) => cb(fail(e as Error)),
        );
      });
    },
    destroy(err, cb) {
      gunzip.destroy();
      if (!result) seen.state?.abort(); // failed or cut: the hashing thread goes with it
      cb(err);
    },
  });
  return {
    stream,
    tarBytes: () => tarBytes,
    info() {
      if (!result) throw new Error("the archive check has not finished");
      return result;
    },
  };
}
