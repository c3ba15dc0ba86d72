import type { Readable } from "node:stream";

// Where stored snapshots live (DESIGN.md §1a): a stream is cut into parts, each hashed on the way in, and a
// manifest written last makes the snapshot complete. A PartStore is the place — a local folder today, an S3
// bucket next — and knows nothing of tar, zstd or what the bytes are. Everything above it (part-writer,
// verify-parts, storage-scan) is the same for every store.
//
// Layout, the same in every store: <root>/<server>/<snapshot>/ holds .parts/part-000000…, manifest.json and
// any small files the driver adds (README.txt). An S3 store keeps the same names as object keys under
// <prefix><server>/<snapshot>/; it cannot rename, so "manifest last" never relies on renaming parts: the parts
// are written under their final names and the manifest object is put once, after every part is durable.

/** Which stored snapshot. A recorded `location` (storage.path may have moved since) wins over the computed one. */
/** What a place holds where a writer died: nothing, some parts without a manifest, or complete. */
export type Leftover = "nothing" | "partial" | "complete";

export interface SnapshotKey {
  server: string;
  name: string;
  location?: string | null;
}

/** A part's bytes as hashed on the way in: its size and SHA-256 (hex). */
export interface PartDigest {
  size: number;
  sha256: string;
}

/** One part being written, from its first byte to its last, in order. */
export interface PartSink {
  /** Appends the buffers (locally one writev). The caller may reuse nothing it passed until this resolves. */
  write(buffers: Buffer[]): Promise<void>;
  /**
   * The part is whole: once this resolves it is durable (fsync on a local disk). `digest` is what the hash tap
   * measured, for stores that send a checksum with each part (S3's x-amz-checksum-sha256) and refuse a mismatch.
   */
  close(digest: PartDigest): Promise<void>;
  /** The stream failed: let go of the part (what was written is removed with the snapshot by remove()). */
  abort(): Promise<void>;
}

/** The operation's signal, for stores whose requests can hang on a network (S3). */
export interface IoOptions {
  signal?: AbortSignal;
}

/** manifest.json as stored: its text, or null when there is none. Unreadable ones throw. */
export type ManifestText = string | null;

export interface PartStore {
  /** "local", "s3": for logs and messages. */
  readonly kind: string;
  /** Where the snapshot is, as the ledger records it (a folder; an s3:// URL) and messages show it. */
  where(key: SnapshotKey): string;
  /**
   * The snapshot's folder on this machine's file system when the store keeps it in one (export writes its
   * image beside the parts); absent for stores that do not.
   */
  localFolder?(key: SnapshotKey): string;
  /**
   * Present when the store keeps parts as plain files on this machine: a storage thread may then write them
   * itself, as openPart would (new files only, 0600, each fsynced before it is closed when `fsync`), into the
   * snapshot's folder once create() has made it.
   */
  fileParts?(key: SnapshotKey): FileParts;

  // Writing: create, then parts in order, then any small files, then the manifest, last.
  /**
   * Claims the place of a new snapshot, before any byte is read: refuses with a UserError (snapshot_exists,
   * storage_blocked) when something is there already. Nothing is left behind when it throws.
   */
  create(key: SnapshotKey): Promise<void>;
  /**
   * A new part under its final name (`.parts/part-000000`, see partFile()); it must not exist yet. `signal`
   * (the operation's) stops a store's uploads in flight at once, as a cancel or timeout must.
   */
  openPart(key: SnapshotKey, file: string, opts?: IoOptions): Promise<PartSink>;
  /** A small file beside the parts (README.txt), written whole, readable by its owner only. */
  putFile(key: SnapshotKey, name: string, text: string): Promise<void>;
  /**
   * Written last and atomically: when it resolves, every part, every file and the manifest are durable and
   * the snapshot is complete; if the process dies before, the snapshot is partial (no manifest), never
   * half a manifest. Nothing is written to the snapshot after it.
   */
  writeManifest(key: SnapshotKey, text: string): Promise<void>;

  // Reading.
  readManifest(key: SnapshotKey): Promise<ManifestText>;
  /** A small file beside the parts (README.txt), or null when it is not there: a copy takes it along. */
  getFile(key: SnapshotKey, name: string): Promise<string | null>;
  /** The part's size in bytes, or null when it is missing. */
  stat(key: SnapshotKey, file: string): Promise<number | null>;
  /** The parts present (`.parts/…` names, sorted), whatever the manifest lists: verify reports strays. */
  listParts(key: SnapshotKey): Promise<string[]>;
  /** A part as a stream whose chunks the reader may keep (restore, export feed them to a process). */
  read(key: SnapshotKey, file: string): Readable;
  /**
   * A part in large chunks, each valid only until the next is asked for (buffers are reused, so hashing
   * gigabytes allocates nothing); the next read is already under way while a chunk is being hashed.
   */
  readChunks(key: SnapshotKey, file: string, opts?: IoOptions): AsyncIterable<Buffer>;
  /** What a writer that died left: nothing, parts without a manifest (partial), or a complete snapshot. */
  leftover(key: SnapshotKey): Promise<Leftover>;
  /** Every snapshot the store holds under names snapbot could have written, sorted by server then name. */
  list(): Promise<Array<{ server: string; name: string }>>;

  /**
   * Removes the snapshot and everything in it, idempotently. Refuses (UserError unsafe_delete) anything that
   * is not exactly its place, or that holds files snapbot never writes.
   */
  remove(key: SnapshotKey): Promise<void>;
}

/** Where a store that keeps parts as files keeps a snapshot's: `<folder>/<partFile(i)>`. */
export interface FileParts {
  folder: string;
  fsync: boolean;
}

export const PARTS_DIR = ".parts";
/** A part's name as manifests record it: the pattern keeps a tampered manifest from pointing outside the snapshot. */
export const PART_FILE = /^\.parts\/part-\d{6}$/;
/** partFile's parts, for code that cannot import it (a worker thread's source). */
export const PART_NAME = { prefix: `${PARTS_DIR}/part-`, digits: 6 } as const;

export function partFile(index: number): string {
  return `${PART_NAME.prefix}${String(index).padStart(PART_NAME.digits, "0")}`;
}
