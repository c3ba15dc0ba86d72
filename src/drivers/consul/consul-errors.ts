import { BackendError, UserError } from "../../errors.ts";

// Consul's failures, each with a code from one closed list and a line that says what to do. Consul's own words
// (its error bodies are one line) are kept after ours; a token is never part of any of them.

export type ConsulErrorCode =
  | "archive_invalid" // not a gzip tar of exactly meta.json, state.bin, SHA256SUMS with matching hashes
  | "no_leader" // no cluster leader and stale: never
  | "unreachable" // connection refused, reset, cut mid-stream
  | "timeout" // no answer (or no more bytes) within the time allowed
  | "http_error" // any other non-2xx answer
  | "bad_answer" // a 2xx answer that is not what the API documents
  | "cancelled" // the operation was cancelled (or hit its timeout:)
  | "hash_failed"; // snapbot's own hashing thread failed: nothing is wrong with the archive, try again

export class ConsulError extends BackendError {
  declare readonly code: ConsulErrorCode;
  constructor(code: ConsulErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export type ConsulUserErrorCode = "consul_forbidden" | "version_mismatch" | "target_refused";

export class ConsulUserError extends UserError {
  declare readonly code: ConsulUserErrorCode;
  constructor(code: ConsulUserErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
