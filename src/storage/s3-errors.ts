import { BackendError, SnapbotError } from "../errors.ts";

// What an S3 failure means for the person reading it, one closed set of codes. The SDK's own error object is
// never kept as a cause (it carries the request, and the request carries signed headers): only its name,
// status and network code, which say everything a log needs.

export type S3ErrorCode =
  | "s3_unreachable"
  | "s3_auth"
  | "s3_denied"
  | "s3_full"
  | "s3_no_bucket"
  | "s3_checksum"
  | "s3_timeout"
  | "s3_disconnected"
  | "s3_failed";

/** Where a failure happened, for its message. */
export interface S3Place {
  target: string; // the storage target's name (storage.targets.<name>)
  endpoint: string;
  bucket: string;
  accessKeyEnv: string;
  secretKeyEnv: string;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const NETWORK_DOWN = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
const NETWORK_CUT = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ERR_STREAM_PREMATURE_CLOSE", "ERR_HTTP_REQUEST_TIMEOUT", "UND_ERR_SOCKET"]);
const TIMEOUTS = new Set(["TimeoutError", "RequestTimeout", "RequestTimeoutException", "ETIMEDOUT"]);
const CREDENTIALS = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"]);
const CHECKSUM = new Set(["BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"]);
const THROTTLED = new Set(["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable", "InternalError"]);

const sdk = (e: unknown): SdkError => (typeof e === "object" && e !== null ? (e as SdkError) : {});
const statusOf = (e: unknown) => sdk(e).$metadata?.httpStatusCode;
/** The network code of a failed request: the SDK keeps Node's on the error (or its cause). */
const netCode = (e: unknown): string | undefined => {
  const s = sdk(e);
  return s.code ?? sdk((e as { cause?: unknown })?.cause).code;
};

/** Worth trying again: the network dropped, the server was busy or failed, bytes were damaged on the way. */
export function isTransient(e: unknown): boolean {
  if (e instanceof SnapbotError) return false;
  const { name = "" } = sdk(e);
  const code = netCode(e) ?? "";
  const status = statusOf(e) ?? 0;
  if (CREDENTIALS.has(name) || name === "NoSuchBucket" || name === "AccessDenied" || name === "QuotaExceeded") return false;
  return (
    NETWORK_DOWN.has(code) || NETWORK_CUT.has(code) || TIMEOUTS.has(name) || TIMEOUTS.has(code) || THROTTLED.has(name) ||
    CHECKSUM.has(name) || status >= 500 || status === 429 || /socket hang up|ECONNRESET|premature close/i.test(sdk(e).message ?? "")
  );
}

/** The failure as one line naming the target, what was being done and what to do about it. */
export function describeS3Error(e: unknown, place: S3Place, what: string, attempts: number): SnapbotError {
  if (e instanceof SnapbotError) return e;
  const { name = "Error" } = sdk(e);
  const code = netCode(e);
  const status = statusOf(e);
  const t = `storage target ${place.target}`;
  const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
  const cause = new Error(`${name}${status ? ` ${status}` : ""}${code ? ` ${code}` : ""}`);
  const fail = (c: S3ErrorCode, message: string) => new BackendError(c, message, { cause });
  if (code && NETWORK_DOWN.has(code))
    return fail("s3_unreachable", `${t}: cannot reach ${place.endpoint} (${code})${tries}: check storage.targets.${place.target}.s3.endpoint and that the S3 service runs`);
  if (CREDENTIALS.has(name))
    return fail("s3_auth", `${t}: ${place.endpoint} refused snapbot's credentials (${status ?? 403} ${name}): check the keys in ${place.accessKeyEnv} and ${place.secretKeyEnv}`);
  if (name === "NoSuchBucket")
    return fail("s3_no_bucket", `${t}: bucket ${place.bucket} does not exist on ${place.endpoint}: create it, or fix storage.targets.${place.target}.s3.bucket`);
  if (name === "QuotaExceeded" || name === "EntityTooLarge")
    return fail("s3_full", `${t}: bucket ${place.bucket} refused ${what}: its quota is exceeded (${name}): free space there or raise the quota`);
  if (name === "AccessDenied" || status === 403)
    return fail("s3_denied", `${t}: ${place.endpoint} denied ${what} in bucket ${place.bucket} (${status ?? 403} ${name}): the bucket policy or the user's permissions forbid it`);
  if (CHECKSUM.has(name))
    return fail("s3_checksum", `${t}: the store rejected ${what}: the bytes it received do not match the checksum snapbot sent (${name})${tries}`);
  // Before timeouts: the SDK names a reset connection "TimeoutError" too; its network code says what happened.
  if ((code && NETWORK_CUT.has(code)) || /socket hang up|premature close/i.test(sdk(e).message ?? ""))
    return fail("s3_disconnected", `${t}: the connection to ${place.endpoint} broke during ${what} (${code ?? "socket hang up"})${tries}`);
  if (TIMEOUTS.has(name) || (code && TIMEOUTS.has(code)))
    return fail("s3_timeout", `${t}: ${place.endpoint} stopped answering during ${what}${tries}: check the network and the S3 service`);
  return fail("s3_failed", `${t}: ${place.endpoint} failed ${what} (${status ? `${status} ` : ""}${name})${tries}`);
}

/** A 404 of any kind (HEAD answers without a body, so without a code). */
export function isNotFound(e: unknown): boolean {
  const { name } = sdk(e);
  return name === "NotFound" || name === "NoSuchKey" || (statusOf(e) === 404 && name !== "NoSuchBucket");
}

export function isPreconditionFailed(e: unknown): boolean {
  return sdk(e).name === "PreconditionFailed" || statusOf(e) === 412;
}
