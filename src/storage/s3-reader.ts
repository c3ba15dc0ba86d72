import { Readable } from "node:stream";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { describeS3Error, isTransient } from "./s3-errors.ts";
import type { S3Io } from "./s3-client.ts";

// Streaming GETs: an object is read as its body arrives (never buffered whole), and a connection that breaks
// part-way is resumed with a Range request from the byte it reached, pinned to the object's ETag (If-Match) so
// a resumed read never splices two versions of an object together.

const STREAM_BUFFER = 4 * 1024 * 1024;

/** The object's bytes in the order they arrive; each chunk is the reader's to keep. */
export async function* objectChunks(io: S3Io, Key: string, what: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let position = 0;
  let etag: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const Range = position > 0 ? `bytes=${position}-` : undefined;
    const res = await io.call(what, (abortSignal) => io.client.send(new GetObjectCommand({ Bucket: io.bucket, Key, Range, IfMatch: etag }), { abortSignal }), signal);
    etag ??= res.ETag;
    const body = res.Body as Readable | undefined;
    if (!body) return;
    try {
      for await (const chunk of body) {
        position += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      return;
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (!isTransient(e) || attempt >= io.tuning.attempts) throw describeS3Error(e, io.place, what, attempt);
      await io.pause(attempt, signal);
    } finally {
      body.destroy();
    }
  }
}

/** The same as a Readable (restore and export pipe it into a process); destroying it ends the GET. */
export function objectStream(io: S3Io, Key: string, what: string): Readable {
  const ac = new AbortController();
  const chunks = objectChunks(io, Key, what, ac.signal);
  return new Readable({
    highWaterMark: STREAM_BUFFER,
    read() {
      chunks.next().then(
        (r) => this.push(r.done ? null : r.value),
        (e: unknown) => this.destroy(e as Error),
      );
    },
    destroy(err, cb) {
      ac.abort(err ?? new Error("read stopped"));
      void chunks.return(undefined).catch(() => undefined);
      cb(err);
    },
  });
}
