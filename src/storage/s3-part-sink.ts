import { createHash } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { BackendError } from "../errors.ts";
import type { S3Io } from "./s3-client.ts";
import type { PartDigest, PartSink } from "./part-store.ts";

// One part as an S3 object, streamed with bounded memory: bytes are copied into chunk buffers of
// tuning.chunkBytes; a part that fits in one chunk is one PUT, a bigger one a multipart upload whose chunks
// go up while the next fill (at most tuning.inFlight at once: write() waits, which backs up into tar). No
// part is ever held whole. Every request carries the chunk's SHA-256 (x-amz-checksum-sha256) and MD5
// (Content-MD5), and its SHA-256 is also the signed payload hash (x-amz-content-sha256, signedWith below). What
// the store checks: Ceph 16's RGW ignores x-amz-checksum-sha256 (a wrong one is accepted) but refuses a body
// whose Content-MD5 or signed payload SHA-256 does not match; AWS S3 checks all three. After a multipart
// upload, HEAD confirms the size and the ETag S3 derives from the chunks' MD5s (RGW's Complete has no ETag).

const MAX_CHUNKS = 10_000; // S3's limit on parts in one multipart upload
const FIRST_BUFFER = 256 * 1024; // small parts (and the first bytes of big ones) do not take a whole chunk

export interface S3SinkOptions {
  io: S3Io;
  /** The store's chunk buffers, shared by the parts being written and closed at once: bounds their memory together. */
  pool: ChunkPool;
  objectKey: string;
  /** "files-1/s1 .parts/part-000002": for messages. */
  what: string;
  signal?: AbortSignal;
  /** Told once when the part fails or is abandoned: the store then refuses a manifest for its snapshot. */
  onFailed(): void;
}

interface Sent {
  PartNumber: number;
  ETag: string;
  ChecksumSHA256: string;
  md5: Buffer;
}

export function createS3PartSink(o: S3SinkOptions): PartSink {
  const { io, objectKey: Key } = o;
  const Bucket = io.bucket;
  const chunk = io.tuning.chunkBytes;
  const ac = new AbortController();
  const stop = () => ac.abort(o.signal?.reason);
  o.signal?.addEventListener("abort", stop, { once: true });
  const signal = ac.signal;
  let buf: Buffer = Buffer.allocUnsafe(Math.min(FIRST_BUFFER, chunk));
  let filled = 0;
  let sentBytes = 0;
  let uploadId: string | null = null;
  let nextPart = 1;
  const sent: Sent[] = [];
  const running = new Set<Promise<void>>();
  let pooled = false; // whether buf came from the pool (and goes back to it)
  let failure: unknown = null;
  let finished = false;

  const fail = (e: unknown) => {
    failure ??= e;
    if (!finished) o.onFailed();
    finished = true;
    stop();
  };
  /** A part outgrowing its first small buffer moves into one of the pool's chunks (no doubling, no garbage). */
  const room = async () => {
    if (filled < buf.length || pooled) return;
    const small = buf;
    buf = await next();
    small.copy(buf, 0, 0, filled);
  };
  const next = async (): Promise<Buffer> => {
    while (running.size >= io.tuning.inFlight) await Promise.race(running);
    const b = await o.pool.take();
    pooled = true;
    return b;
  };
  const release = () => {
    if (pooled) o.pool.give(buf);
    pooled = false;
  };

  const uploadChunk = (body: Buffer, PartNumber: number, owner: Buffer | null) => {
    const sums = digests(body);
    const what = `upload of ${o.what} (chunk ${PartNumber})`;
    const p = io
      .call(what, (abortSignal) => io.client.send(signedWith(sums.sha256, new UploadPartCommand({ Bucket, Key, UploadId: uploadId!, PartNumber, Body: body, ContentMD5: sums.md5.toString("base64"), ChecksumSHA256: sums.sha256 })), { abortSignal }), signal)
      .then((r) => {
        sent.push({ PartNumber, ETag: r.ETag ?? "", ChecksumSHA256: sums.sha256, md5: sums.md5 });
      })
      .catch(fail)
      .finally(() => {
        running.delete(p);
        if (owner) o.pool.give(owner);
      });
    running.add(p);
  };
  const flush = async (last = false) => {
    if (failure) throw failure;
    if (nextPart > MAX_CHUNKS)
      throw new BackendError("s3_part_too_big", `${o.what} needs more than ${MAX_CHUNKS} upload chunks: use a smaller part_size (at most ${(MAX_CHUNKS * chunk) / 1024 ** 3} GiB)`);
    uploadId ??= await startUpload();
    const body = filled === buf.length ? buf : buf.subarray(0, filled);
    uploadChunk(body, nextPart++, pooled ? buf : null);
    pooled = false;
    sentBytes += filled;
    filled = 0;
    buf = Buffer.alloc(0); // until the pool hands the next one out
    if (!last) buf = await next();
  };
  const startUpload = async () => {
    const r = await io.call(`start of ${o.what}`, (abortSignal) => io.client.send(new CreateMultipartUploadCommand({ Bucket, Key, ChecksumAlgorithm: "SHA256" }), { abortSignal }), signal);
    if (!r.UploadId) throw new BackendError("s3_failed", `storage target ${io.place.target}: ${io.place.endpoint} started no upload for ${o.what}`);
    return r.UploadId;
  };
  const abortUpload = async () => {
    if (!uploadId) return;
    const id = uploadId;
    // Bounded: a stalled endpoint must not hold up a cancel; remove() aborts whatever is left.
    await io.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: id }), { abortSignal: AbortSignal.timeout(5000) }).catch(() => undefined);
  };

  async function putWhole(digest: PartDigest) {
    const body = buf.subarray(0, filled);
    const md5 = createHash("md5").update(body).digest("base64");
    const ChecksumSHA256 = Buffer.from(digest.sha256, "hex").toString("base64");
    await io.call(`upload of ${o.what}`, (abortSignal) => io.client.send(signedWith(ChecksumSHA256, new PutObjectCommand({ Bucket, Key, Body: body, ContentMD5: md5, ChecksumSHA256 })), { abortSignal }), signal);
  }
  async function completeUpload(digest: PartDigest) {
    if (filled > 0) await flush(true);
    while (running.size > 0) await Promise.race(running);
    if (failure) throw failure;
    const parts = [...sent].sort((a, b) => a.PartNumber - b.PartNumber);
    const MultipartUpload = { Parts: parts.map(({ PartNumber, ETag, ChecksumSHA256 }) => ({ PartNumber, ETag, ChecksumSHA256 })) };
    await io.call(`completion of ${o.what}`, (abortSignal) => io.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: uploadId!, MultipartUpload }), { abortSignal }), signal);
    const head = await io.call(`check of ${o.what}`, (abortSignal) => io.client.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal }), signal);
    const etag = (head.ETag ?? "").replaceAll('"', "");
    const expected = `${createHash("md5").update(Buffer.concat(parts.map((p) => p.md5))).digest("hex")}-${parts.length}`;
    if (head.ContentLength !== digest.size || (/^[0-9a-f]{32}-\d+$/.test(etag) && etag !== expected))
      throw new BackendError("s3_checksum", `storage target ${io.place.target}: ${o.what} was stored as ${head.ContentLength} bytes (ETag ${etag}), not the ${digest.size} bytes (ETag ${expected}) sent`);
    await dropStrayUploads();
  }
  /** A start retried after a lost answer leaves an upload of its own behind: nothing would ever complete it. */
  async function dropStrayUploads() {
    const r = await io.client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: Key }), { abortSignal: AbortSignal.timeout(5000) }).catch(() => null);
    for (const u of r?.Uploads ?? [])
      if (u.Key === Key && u.UploadId && u.UploadId !== uploadId)
        await io.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: u.UploadId }), { abortSignal: AbortSignal.timeout(5000) }).catch(() => undefined);
  }

  return {
    async write(buffers) {
      for (const b of buffers) {
        for (let at = 0; at < b.length; ) {
          if (failure) throw failure;
          await room();
          const n = Math.min(buf.length - filled, b.length - at);
          b.copy(buf, filled, at, at + n);
          filled += n;
          at += n;
          if (filled === chunk) await flush();
        }
      }
    },
    async close(digest) {
      try {
        if (failure) throw failure;
        if (sentBytes + filled !== digest.size)
          throw new BackendError("part_size_mismatch", `${o.what}: ${sentBytes + filled} bytes were written but ${digest.size} were hashed`);
        if (uploadId) await completeUpload(digest);
        else await putWhole(digest);
        finished = true;
      } catch (e) {
        fail(e);
        await Promise.allSettled([...running]);
        await abortUpload();
        throw e;
      } finally {
        release();
        o.signal?.removeEventListener("abort", stop);
      }
    },
    async abort() {
      fail(new Error("abandoned"));
      await Promise.allSettled([...running]);
      release();
      await abortUpload();
      o.signal?.removeEventListener("abort", stop);
    },
  };
}

/** Chunk buffers handed out at most `max` at a time, reused: `take` waits for one to come back. */
export interface ChunkPool {
  take(): Promise<Buffer>;
  give(b: Buffer): void;
}

export function createChunkPool(size: number, max: number): ChunkPool {
  const free: Buffer[] = [];
  const waiting: Array<(b: Buffer) => void> = [];
  let made = 0;
  return {
    async take() {
      const b = free.pop();
      if (b) return b;
      if (made < max) return (made++, Buffer.allocUnsafe(size));
      return new Promise<Buffer>((resolve) => waiting.push(resolve));
    },
    give(b) {
      const waiter = waiting.shift();
      if (waiter) waiter(b);
      else free.push(b);
    },
  };
}

/**
 * SigV4 signs the body's SHA-256 (x-amz-content-sha256), which the store recomputes and checks: given the hash
 * snapbot already has (the hash tap's, for a whole part), the SDK neither hashes the body again nor signs a
 * hash of bytes other than the ones measured on the way in.
 */
export function signedWith<C extends { middlewareStack: { add: AddMiddleware } }>(sha256Base64: string, command: C): C {
  const hex = Buffer.from(sha256Base64, "base64").toString("hex");
  command.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers["x-amz-content-sha256"] = hex;
      return next(args);
    },
    { step: "build", name: "snapbotPayloadSha256" },
  );
  return command;
}
// The SDK types middleware per command; this one only sets a header, whatever the command.
type AddMiddleware = (mw: (next: (args: any) => Promise<any>) => (args: any) => Promise<any>, opts: { step: "build"; name: string }) => void;

function digests(body: Buffer): { sha256: string; md5: Buffer } {
  return { sha256: createHash("sha256").update(body).digest("base64"), md5: createHash("md5").update(body).digest() };
}
