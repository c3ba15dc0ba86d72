import { createHash } from "node:crypto";
import { UserError } from "../../errors.ts";

// verify --target <t> --slice n/m is restic's `check --read-data-subset n/m` for a storage target: the slices
// 1..m of the same target, read one after the other, read each copy there exactly once. restic cuts by pack ID,
// and its packs are all about one size, so a hash alone balances the bytes. Copies range from kilobytes to
// terabytes, and a hash alone would make one slice several times heavier than another. So the places
// (<server>/<snap>) are put in the order of their SHA-256 — stable: a copy added or removed never reorders the
// others — and that line of bytes is cut into m equal lengths. Each copy goes to the slice that holds the middle
// of its bytes. Every copy is in exactly one slice, and each slice holds 1/m of the bytes, give or take one
// copy. Copies coming and going move the cuts a little. A scheduled round makes up for that: each run also reads
// whatever in an earlier slice has not been re-read since the round began (verify-target.ts).

export interface Sized {
  /** <server>/<snap>: the unit's place on the target, the same for every store. */
  place: string;
  size: number;
}

export interface Slice {
  n: number;
  m: number;
}

export const MAX_SLICES = 1000;

/** Each unit's slice (1..m). */
export function slicesOf<T extends Sized>(units: readonly T[], m: number): Map<T, number> {
  const order = units
    .map((u) => ({ u, key: createHash("sha256").update(u.place).digest("hex") }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.u.place < b.u.place ? -1 : 1));
  const weight = (u: Sized) => Math.max(1, u.size); // an empty copy still has a manifest to read
  const total = order.reduce((sum, x) => sum + weight(x.u), 0);
  const out = new Map<T, number>();
  let before = 0;
  for (const { u } of order) {
    const w = weight(u);
    // A ratio first: bytes × m could pass 2^53 on a petabyte target.
    out.set(u, Math.min(m, Math.floor(((before + w / 2) / total) * m) + 1));
    before += w;
  }
  return out;
}

/** --slice n/m as typed: one line saying what to type instead. */
export function parseSlice(text: string, usage: string): Slice {
  const bad = (why: string) =>
    new UserError(
      "bad_slice",
      `--slice ${text.slice(0, 20)}: ${why}: give n/m, the n-th of m slices, 1 ≤ n ≤ m ≤ ${MAX_SLICES} (e.g. --slice 2/7); usage: ${usage}`,
    );
  const match = /^(\d{1,7})\/(\d{1,7})$/.exec(text);
  if (!match) throw bad("that is not n/m");
  const [n, m] = [Number(match[1]), Number(match[2])];
  if (m === 0) throw bad("there cannot be 0 slices");
  if (n === 0) throw bad("slices count from 1");
  if (m > MAX_SLICES) throw bad(`at most ${MAX_SLICES} slices`);
  if (n > m) throw bad(`there are only ${m} slices`);
  return { n, m };
}

/** --slices m (schedule --target): how many runs a round takes. */
export function parseSliceCount(text: string | true | undefined, usage: string): number {
  if (text === undefined) return 1;
  const n = typeof text === "string" && /^\d{1,7}$/.test(text) ? Number(text) : NaN;
  if (n >= 1 && n <= MAX_SLICES) return n;
  const what = "each run reads the next slice, the whole target every that many runs (e.g. --slices 7)";
  throw new UserError("bad_slice", `--slices takes a whole number from 1 to ${MAX_SLICES}: ${what}; usage: ${usage}`);
}
