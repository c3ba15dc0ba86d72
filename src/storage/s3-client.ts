import { Agent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "pino";
import type { S3TargetSettings } from "../config/storage-schema.ts";
import { describeS3Error, isTransient, type S3Place } from "./s3-errors.ts";

// The one way the S3 store talks to its endpoint: every request through call(), which retries what is
// worth retrying (a dropped connection, a 5xx, a stall past the idle timeout, damaged bytes) with
// exponential backoff, passes the caller's AbortSignal on, and turns the last failure into one line.
// The SDK's own retries are off (they would hide the attempts from the log and from the signal).

export interface S3Tuning {
  /** Bytes per upload request: a part up to this size is one PUT, a bigger one a multipart upload of such chunks. */
  chunkBytes: number;
  /** Chunks of one part uploading at once (memory: about (inFlight + 1) × chunkBytes per part being written). */
  inFlight: number;
  attempts: number;
  backoffMs: number;
  /** A request with no bytes moving for this long is a stall: cut, and tried again. */
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_TUNING: S3Tuning = {
  chunkBytes: 8 * 1024 * 1024,
  inFlight: 3,
  attempts: 4,
  backoffMs: 500,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
};

export interface S3Io {
  readonly client: S3Client;
  readonly bucket: string;
  readonly place: S3Place;
  readonly tuning: S3Tuning;
  /** One request, retried while transient; `what` names it in messages ("upload of files-1/s1 part-000002"). */
  call<T>(what: string, request: (abortSignal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** The backoff before attempt n+1, cut short by the signal. */
  pause(attempt: number, signal?: AbortSignal): Promise<void>;
  destroy(): void;
}

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export function createS3Io(target: string, s: S3TargetSettings, credentials: S3Credentials, log: Logger, tuning: S3Tuning): S3Io {
  const https = s.endpoint.startsWith("https:");
  const agentOptions = { keepAlive: true, maxSockets: 16 };
  const client = new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: s.force_path_style,
    credentials,
    maxAttempts: 1,
    // Checksums are the store's own (ChecksumSHA256 and Content-MD5 per request, s3-part-sink.ts); the SDK's
    // default CRC32 trailers (aws-chunked) are refused by older gateways such as Ceph's before Reef.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: {
      connectionTimeout: tuning.connectTimeoutMs,
      socketTimeout: tuning.idleTimeoutMs, // inactivity: a stalled upload or download is cut, then tried again
      ...(https ? { httpsAgent: new HttpsAgent(agentOptions) } : { httpAgent: new Agent(agentOptions) }),
    },
  });
  const place: S3Place = { target, endpoint: s.endpoint, bucket: s.bucket, accessKeyEnv: s.access_key_env, secretKeyEnv: s.secret_key_env };
  const pause = (attempt: number, signal?: AbortSignal) => sleep(tuning.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() / 2), signal);
  return {
    client,
    bucket: s.bucket,
    place,
    tuning,
    pause,
    async call(what, request, signal) {
      for (let attempt = 1; ; attempt++) {
        if (signal?.aborted) throw signal.reason;
        try {
          return await request(signal ?? new AbortController().signal);
        } catch (e) {
          if (signal?.aborted) throw signal.reason; // cancelled or timed out: the operation's reason, not the socket's
          if (!isTransient(e) || attempt >= tuning.attempts) throw describeS3Error(e, place, what, attempt);
          log.warn({ target, what, attempt, error: describeS3Error(e, place, what, attempt).message }, "S3 request failed; trying again");
          await pause(attempt, signal);
        }
      }
    },
    destroy: () => client.destroy(),
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", stop);
      resolve();
    }
    function stop() {
      clearTimeout(timer);
      reject(signal!.reason);
    }
    signal?.addEventListener("abort", stop, { once: true });
  });
}
