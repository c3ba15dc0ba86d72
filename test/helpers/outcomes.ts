import { expect } from "vitest";
import type { Pipeline } from "../../src/transport/runner.ts";
import { BackendError } from "../../src/errors.ts";

// What the runner and driver tests share: the error a promise must reject with, and a pipeline's bytes.

/** The error `p` rejects with; fails the test if it resolves or rejects with something not of `type`. */
export async function rejection<E extends Error = Error & { code?: string }>(p: Promise<unknown>, type: abstract new (...args: never[]) => Error = Error): Promise<E> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(type);
  return e as E;
}

/** As rejection, for a Runner's errors (BackendError: code, message, stderrTail). */
export const backendRejection = (p: Promise<unknown>): Promise<BackendError> => rejection<BackendError>(p, BackendError);

/** Everything the pipeline's last stage wrote. */
export async function collect(p: Pipeline): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of p.stdout) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
