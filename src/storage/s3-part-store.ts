import { createHash } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import type { Logger } from "pino";
import type { S3TargetSettings } from "../config/storage-schema.ts";
import { BackendError, UserError } from "../errors.ts";
import { checkName, NAME_PATTERN } from "../names.ts";
import { MANIFEST_FILE } from "./manifest.ts";
import { PART_FILE, PARTS_DIR, type Leftover, type PartStore, type SnapshotKey } from "./part-store.ts";
import { createS3Io, DEFAULT_TUNING, type S3Credentials, type S3Io, type S3Tuning } from "./s3-client.ts";
import { isNotFound, isPreconditionFailed } from "./s3-errors.ts";
import { createChunkPool, createS3PartSink } from "./s3-part-sink.ts";
import { objectChunks, objectStream } from "./s3-reader.ts";

// The PartStore on an S3 bucket (Ceph's RGW, AWS, MinIO…): the local layout as object keys,
// <prefix><server>/<snapshot>/{.parts/part-NNNNNN, manifest.json, README.txt}. S3 cannot rename, so
// "manifest last" is kept by order: the manifest object is put once (If-None-Match: *), only after every
// part's upload was confirmed (the store checked each request's checksum) and HEAD finds each listed part at
// its size; a part that failed or was abandoned makes the store refuse the manifest for that snapshot.

export interface S3PartStoreOptions {
  target: string;
  settings: S3TargetSettings;
  credentials: S3Credentials;
  log: Logger;
  /** Files besides parts and the manifest that snapbot writes into a snapshot (README.txt): remove() accepts them. */
  ownEntry?: (name: string) => boolean;
  tuning?: Partial<S3Tuning>;
}

export interface S3PartStore extends PartStore {
  /** Closes the client's connections (tests, shutdown). */
  destroy(): void;
}

export function createS3PartStore(o: S3PartStoreOptions): S3PartStore {
  const io = createS3Io(o.target, o.settings, o.credentials, o.log, { ...DEFAULT_TUNING, ...o.tuning });
  const Bucket = o.settings.bucket;
  const prefix = o.settings.prefix;
  const failed = new Set<string>(); // snapshot bases with a failed or abandoned part since create()
  // The part being written and those still closing (part-writer keeps two) share inFlight + 1 chunk buffers.
  const pool = createChunkPool(io.tuning.chunkBytes, io.tuning.inFlight + 1);
  const expected = (key: SnapshotKey) => `${prefix}${checkName("server", key.server)}/${checkName("snapshot", key.name)}/`;
  const base = (key: SnapshotKey) => recordedBase(key.location, Bucket) ?? expected(key);
  const where = (key: SnapshotKey) => `s3://${Bucket}/${base(key).slice(0, -1)}`;
  const own = (rel: string) => rel === MANIFEST_FILE || PART_FILE.test(rel) || (o.ownEntry?.(rel) ?? false);
  const ref = (key: SnapshotKey, file: string) => `${key.server}/${key.name} ${file}`;

  const list = async (Prefix: string, Delimiter?: string) => {
    const keys: string[] = [];
    const folders: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const r = await io.call(`listing of s3://${Bucket}/${Prefix}`, (abortSignal) =>
        io.client.send(new ListObjectsV2Command({ Bucket, Prefix, Delimiter, ContinuationToken }), { abortSignal }),
      );
      keys.push(...(r.Contents ?? []).map((c) => c.Key!).filter(Boolean));
      folders.push(...(r.CommonPrefixes ?? []).map((c) => c.Prefix!).filter(Boolean));
      ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return { keys, folders };
  };
  // A 404 is an answer here (no such object), not a failure: caught before call() would retry or describe it.
  const head = async (Key: string, what: string): Promise<number | null> => {
    const r = await io.call(what, (abortSignal) => io.client.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal }).catch(nullIfMissing));
    return r ? (r.ContentLength ?? 0) : null;
  };
  const put = (Key: string, text: string, what: string, IfNoneMatch?: string) => {
    const Body = Buffer.from(text, "utf8");
    const ContentMD5 = createHash("md5").update(Body).digest("base64");
    const ChecksumSHA256 = createHash("sha256").update(Body).digest("base64");
    return io.call(what, (abortSignal) =>
      io.client.send(new PutObjectCommand({ Bucket, Key, Body, ContentMD5, ChecksumSHA256, IfNoneMatch }), { abortSignal }).then(
        () => "stored" as const,
        (e: unknown) => (IfNoneMatch && isPreconditionFailed(e) ? ("exists" as const) : Promise.reject(e)),
      ),
    );
  };
  const getText = async (Key: string, what: string): Promise<string | null> => {
    const r = await io.call(what, (abortSignal) =>
      io.client.send(new GetObjectCommand({ Bucket, Key }), { abortSignal }).then((o) => o.Body?.transformToString("utf8") ?? "", nullIfMissing),
    );
    return r;
  };
  const uploadsUnder = async (Prefix: string) => {
    const r = await io.call(`listing of uploads under s3://${Bucket}/${Prefix}`, (abortSignal) =>
      io.client.send(new ListMultipartUploadsCommand({ Bucket, Prefix }), { abortSignal }),
    );
    return (r.Uploads ?? []).filter((u) => u.Key && u.UploadId).map((u) => ({ Key: u.Key!, UploadId: u.UploadId! }));
  };

  return {
    kind: "s3",
    where,
    async create(key) {
      const at = expected(key);
      const found = await io.call(`check of ${where(key)}`, (abortSignal) => io.client.send(new ListObjectsV2Command({ Bucket, Prefix: at, MaxKeys: 1 }), { abortSignal }));
      if ((found.KeyCount ?? found.Contents?.length ?? 0) > 0)
        throw new UserError("snapshot_exists", `${key.server}/${key.name} already exists in storage (${where(key)}): delete it or pick another name`);
      failed.delete(at);
    },
    async openPart(key, file, opts) {
      if (!PART_FILE.test(file)) throw new Error(`not a part name: ${JSON.stringify(file)}`);
      const at = base(key);
      return createS3PartSink({ io, pool, objectKey: at + file, what: ref(key, file), signal: opts?.signal, onFailed: () => failed.add(at) });
    },
    async putFile(key, name, text) {
      await put(base(key) + plainName(name), text, `upload of ${ref(key, name)}`);
    },
    async writeManifest(key, text) {
      const at = base(key);
      if (failed.has(at))
        throw new BackendError("parts_incomplete", `${key.server}/${key.name}: a part failed to upload, so no manifest is written (${where(key)})`);
      for (const p of listedParts(text)) {
        const size = await head(at + p.file, `check of ${ref(key, p.file)}`);
        if (size !== p.size)
          throw new BackendError("parts_incomplete", `${ref(key, p.file)} is ${size === null ? "missing" : `${size} bytes, not ${p.size}`} in ${where(key)}: no manifest is written`);
      }
      const put1 = await put(at + MANIFEST_FILE, text, `upload of ${ref(key, MANIFEST_FILE)}`, "*");
      // Put once: a manifest already there is ours only if an earlier attempt's answer was lost on the way.
      if (put1 === "exists" && (await getText(at + MANIFEST_FILE, `read of ${ref(key, MANIFEST_FILE)}`)) !== text)
        throw new UserError("snapshot_exists", `${key.server}/${key.name} already has a manifest in ${where(key)}: delete it or pick another name`);
    },
    readManifest: (key) => getText(base(key) + MANIFEST_FILE, `read of ${ref(key, MANIFEST_FILE)}`),
    getFile: (key, name) => getText(base(key) + plainName(name), `read of ${ref(key, name)}`),
    stat(key, file) {
      if (!PART_FILE.test(file)) throw new Error(`not a part name: ${JSON.stringify(file)}`);
      return head(base(key) + file, `check of ${ref(key, file)}`);
    },
    async listParts(key) {
      const at = base(key);
      const { keys } = await list(`${at}${PARTS_DIR}/`);
      return keys.map((k) => k.slice(at.length)).sort();
    },
    read: (key, file) => objectStream(io, base(key) + partName(file), `read of ${ref(key, file)}`),
    readChunks: (key, file, opts) => objectChunks(io, base(key) + partName(file), `read of ${ref(key, file)}`, opts?.signal),
    async leftover(key): Promise<Leftover> {
      const at = base(key);
      if ((await head(at + MANIFEST_FILE, `check of ${ref(key, MANIFEST_FILE)}`)) !== null) return "complete";
      const { keys } = await list(at);
      return keys.length > 0 || (await uploadsUnder(at)).length > 0 ? "partial" : "nothing";
    },
    async list() {
      const found: Array<{ server: string; name: string }> = [];
      for (const server of names((await list(prefix, "/")).folders, prefix))
        for (const name of names((await list(`${prefix}${server}/`, "/")).folders, `${prefix}${server}/`)) found.push({ server, name });
      return found;
    },
    async remove(key) {
      const at = base(key);
      if (at !== expected(key)) refuse(where(key), `it is not ${`s3://${Bucket}/${expected(key)}`.slice(0, -1)}`);
      const { keys } = await list(at);
      const strangers = keys.map((k) => k.slice(at.length)).filter((rel) => !own(rel));
      if (strangers.length > 0) refuse(where(key), `it holds objects snapbot did not write (${strangers.slice(0, 3).join(", ")})`);
      // The manifest first: a remove cut short leaves a partial snapshot, never a complete-looking one with parts gone.
      const ordered = [...keys].sort((a, b) => Number(b.endsWith(`/${MANIFEST_FILE}`)) - Number(a.endsWith(`/${MANIFEST_FILE}`)));
      for (const Key of ordered)
        await io.call(`delete of s3://${Bucket}/${Key}`, (abortSignal) => io.client.send(new DeleteObjectCommand({ Bucket, Key }), { abortSignal }));
      for (const u of await uploadsUnder(at))
        await io.call(`abort of an upload to s3://${Bucket}/${u.Key}`, (abortSignal) =>
          io.client.send(new AbortMultipartUploadCommand({ Bucket, Key: u.Key, UploadId: u.UploadId }), { abortSignal }),
        );
      failed.delete(at);
    },
    destroy: () => io.destroy(),
  };
}

/** A location the ledger recorded (s3://bucket/…/server/snap) in this bucket, as the key base it names. */
function recordedBase(location: string | null | undefined, bucket: string): string | null {
  const start = `s3://${bucket}/`;
  if (!location?.startsWith(start)) return null;
  const rest = location.slice(start.length);
  return rest.split("/").every((seg) => /^[A-Za-z0-9._-]+$/.test(seg) && seg !== "." && seg !== "..") ? `${rest}/` : null;
}

/** The parts (file, size) a manifest lists; anything unparsable is the manifest schema's to judge on read. */
function listedParts(text: string): Array<{ file: string; size: number }> {
  try {
    const parts = (JSON.parse(text) as { parts?: unknown }).parts;
    return Array.isArray(parts) ? parts.filter((p) => PART_FILE.test(p?.file) && Number.isInteger(p?.size)) : [];
  } catch {
    return [];
  }
}

function nullIfMissing(e: unknown): null {
  if (isNotFound(e)) return null;
  throw e;
}

function names(folders: string[], under: string): string[] {
  return folders.map((f) => f.slice(under.length, -1)).filter((n) => NAME_PATTERN.test(n) && !n.includes("..")).sort();
}

function partName(file: string): string {
  if (!PART_FILE.test(file)) throw new Error(`not a part name: ${JSON.stringify(file)}`);
  return file;
}

function plainName(name: string): string {
  if (name.includes("/") || name.startsWith(".")) throw new Error(`not a plain file name: ${JSON.stringify(name)}`);
  return name;
}

function refuse(where: string, why: string): never {
  throw new UserError("unsafe_delete", `refusing to delete ${where}: ${why}; remove it by hand if it really is a snapshot`);
}
