// A child may print megabytes of warnings; only the end is shown to users, so only the end is kept.
const KEEP_BYTES = 16 * 1024;

export interface StderrTail {
  push(chunk: Buffer): void;
  text(): string;
}

export function createStderrTail(): StderrTail {
  let kept = Buffer.alloc(0);
  return {
    push(chunk) {
      kept = Buffer.concat([kept, chunk]);
      if (kept.length > 2 * KEEP_BYTES) kept = kept.subarray(kept.length - KEEP_BYTES);
    },
    text() {
      const end = kept.length > KEEP_BYTES ? kept.subarray(kept.length - KEEP_BYTES) : kept;
      return end.toString("utf8");
    },
  };
}
