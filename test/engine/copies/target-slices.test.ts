import { describe, expect, it } from "vitest";
import { parseSlice, slicesOf, type Sized } from "../../../src/engine/copies/target-slices.ts";
import { planRead } from "../../../src/engine/copies/verify-target.ts";
import type { TargetUnit } from "../../../src/engine/copies/target-units.ts";
import { targetVerifyLine, type TargetVerified } from "../../../src/engine/copies/target-verify-line.ts";

// The slices of verify --target, pure: every unit in exactly one slice, each slice about 1/m of the bytes, the same
// answer whatever the order, and a unit added moving at most one unit per cut.

/** A small deterministic PRNG (mulberry32): the same "random" targets every run. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` copies over a few servers, sizes log-uniform from 1 KiB to 10 GiB (a real target's spread). */
function target(count: number, seed: number): Sized[] {
  const r = rng(seed);
  return Array.from({ length: count }, (_, i) => ({ place: `srv-${i % 7}/snap-${i}`, size: Math.round(1024 * Math.pow(10 * 1024 * 1024, r())) }));
}

const bytesPer = (units: Sized[], of: Map<Sized, number>, m: number) => {
  const out = new Array<number>(m).fill(0);
  for (const u of units) out[of.get(u)! - 1]! += u.size;
  return out;
};

describe("slicesOf", () => {
  it("puts every unit in exactly one slice of 1..m", () => {
    for (const m of [1, 2, 3, 7, 30, 1000]) {
      const units = target(200, m);
      const of = slicesOf(units, m);
      expect(of.size).toBe(units.length);
      for (const u of units) expect(of.get(u)).toSatisfy((n: number) => Number.isInteger(n) && n >= 1 && n <= m);
    }
    expect(slicesOf([], 7).size).toBe(0);
  });

  it("gives each slice 1/m of the bytes, give or take the largest unit", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const units = target(300, seed);
      const total = units.reduce((s, u) => s + u.size, 0);
      const largest = Math.max(...units.map((u) => u.size));
      for (const m of [2, 7, 12]) for (const b of bytesPer(units, slicesOf(units, m), m)) expect(Math.abs(b - total / m)).toBeLessThanOrEqual(largest);
    }
  });

  it("balances equal units by count, empty ones too", () => {
    const equal = Array.from({ length: 21 }, (_, i) => ({ place: `a/s${i}`, size: 5 }));
    expect(bytesPer(equal, slicesOf(equal, 7), 7)).toEqual(new Array(7).fill(15));
    const empty = equal.map((u) => ({ ...u, size: 0 }));
    const counts = new Array(7).fill(0);
    for (const n of slicesOf(empty, 7).values()) counts[n - 1]++;
    expect(counts).toEqual(new Array(7).fill(3));
  });

  it("is the same whatever order the units come in (the ledger's order is not the partition)", () => {
    const units = target(100, 9);
    const a = slicesOf(units, 7);
    const b = slicesOf([...units].reverse(), 7);
    for (const u of units) expect(b.get(u)).toBe(a.get(u));
  });

  it("a unit added or removed moves at most one other unit per cut", () => {
    for (const seed of [11, 12, 13]) {
      const units = target(200, seed);
      const m = 7;
      const before = slicesOf(units, m);
      const added = slicesOf([...units, { place: "new/one", size: 1024 }], m);
      const removed = slicesOf(units.slice(1), m);
      expect(units.filter((u) => added.get(u) !== before.get(u)).length).toBeLessThanOrEqual(m - 1);
      expect(units.slice(1).filter((u) => removed.get(u) !== before.get(u)).length).toBeLessThanOrEqual(m - 1);
    }
  });
});

describe("parseSlice", () => {
  const usage = "verify --target <target> [--slice n/m]";
  it("reads n/m and refuses the rest in one line", () => {
    expect(parseSlice("2/7", usage)).toEqual({ n: 2, m: 7 });
    expect(parseSlice("1000/1000", usage)).toEqual({ n: 1000, m: 1000 });
    for (const bad of ["0/7", "8/7", "1/0", "a/b", "2", "2/7/1", "-1/7", "1/1001", ""]) expect(() => parseSlice(bad, usage), bad).toThrow(/^--slice .*: give n\/m/);
  });
});

function unit(place: string, size: number, verifiedAt: number | null): TargetUnit {
  const never = () => {
    throw new Error("not in a plan test");
  };
  return { place, noun: "copy", size, verifiedAt, leaseKey: place, live: async () => true, read: never, record: never, announce: never };
}

describe("planRead", () => {
  const units = Array.from({ length: 9 }, (_, i) => unit(`s/${i}`, 100, 10));
  const of = slicesOf(units, 3);
  const inSlice = (n: number) => units.filter((u) => of.get(u) === n).map((u) => u.place).sort();

  it("reads all, or one slice, in the order of their places", () => {
    expect(planRead(units, { slice: null }).read.map((u) => u.place)).toEqual(units.map((u) => u.place).sort());
    for (const n of [1, 2, 3]) expect(planRead(units, { slice: { n, m: 3 } }).read.map((u) => u.place)).toEqual(inSlice(n));
  });

  it("in a round, reads what this slice and earlier ones have not re-read since the round began", () => {
    const round = { scheduleId: 1, startedAt: 50, commit: async () => {} };
    const late = units.map((u) => (of.get(u) === 1 && u.place === inSlice(1)[0] ? unit(u.place, u.size, 10) : unit(u.place, u.size, of.get(u)! <= 2 ? 60 : 10)));
    const lateOf = slicesOf(late, 3);
    // Slice 1 left one unit unread (verified 10 < 50); slice 2 was re-read (60); slice 3 is owed.
    const plan = planRead(late, { slice: { n: 2, m: 3 }, round });
    expect(plan.read.map((u) => u.place)).toEqual([inSlice(1)[0]]);
    expect(plan).toMatchObject({ caughtUp: 1, alreadyRead: late.filter((u) => lateOf.get(u) === 2).length });
    expect(planRead(late, { slice: { n: 3, m: 3 }, round }).read.map((u) => u.place)).toEqual([inSlice(1)[0], ...inSlice(3)].sort());
  });
});

describe("targetVerifyLine", () => {
  const base: TargetVerified = {
    target: "offsite", slice: { n: 2, m: 7 }, held: 40, planned: 15, read: { copy: 14, snapshot: 0 }, bytes: 3.1 * 2 ** 30,
    broken: [], unreadable: [], busy: [], caughtUp: 0, alreadyRead: 0,
  };
  it("says what was read, in the issue's words", () => {
    expect(targetVerifyLine({ ...base, broken: [{ place: "web-1/s3", noun: "copy", problems: ["part-000001 is corrupt"] }] })).toBe(
      "offsite slice 2/7: 14 copies, 3.10 GiB read, 1 broken: web-1/s3",
    );
    expect(targetVerifyLine({ ...base, slice: null })).toBe("offsite: 14 copies, 3.10 GiB read, every part matches");
    expect(targetVerifyLine({ ...base, target: "local", read: { copy: 0, snapshot: 1 }, bytes: 10 })).toBe("local slice 2/7: 1 snapshot, 10 B read, every part matches");
    expect(targetVerifyLine({ ...base, read: { copy: 1, snapshot: 2 }, caughtUp: 2, alreadyRead: 1 })).toBe(
      "offsite slice 2/7: 1 copy and 2 snapshots (2 from earlier slices), 3.10 GiB read, every part matches, 1 already re-read this round",
    );
    const many = Array.from({ length: 7 }, (_, i) => ({ place: `w/s${i}`, error: "connect ECONNREFUSED 127.0.0.1:9" }));
    expect(targetVerifyLine({ ...base, unreadable: many })).toBe(
      "offsite slice 2/7: 14 copies, 3.10 GiB read, every part matches, 7 could not be read: w/s0, w/s1, w/s2, w/s3, w/s4 and 2 more (connect ECONNREFUSED 127.0.0.1:9)",
    );
  });
  it("says why there was nothing to read", () => {
    expect(targetVerifyLine({ ...base, planned: 0, read: { copy: 0, snapshot: 0 }, bytes: 0 })).toBe("offsite slice 2/7: nothing to read (40 on offsite, none in this slice)");
    expect(targetVerifyLine({ ...base, slice: null, held: 0, planned: 0, read: { copy: 0, snapshot: 0 } })).toBe("offsite: nothing to read (offsite holds no done or broken copy)");
    expect(targetVerifyLine({ ...base, target: "local", slice: null, held: 0, planned: 0, read: { copy: 0, snapshot: 0 } })).toBe(
      "local: nothing to read (storage.path holds no done or broken snapshot)",
    );
  });
});
