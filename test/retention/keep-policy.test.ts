import { describe, expect, it } from "vitest";
import { checkKeep, formatKeep, KEEP_HELP, parseKeep, type KeepPolicy } from "../../src/retention/keep-policy.ts";
import { UserError } from "../../src/errors.ts";

const none: KeepPolicy = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, parents: "keep" };

function failure(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    return e as UserError;
  }
  throw new Error("expected a UserError");
}

describe("parseKeep", () => {
  it("reads the counts restic's --keep-* take, zeros for the rest", () => {
    expect(parseKeep("last=3,daily=7,weekly=4,monthly=6")).toEqual({ ...none, last: 3, daily: 7, weekly: 4, monthly: 6 });
    expect(parseKeep("hourly=24,yearly=10")).toEqual({ ...none, hourly: 24, yearly: 10 });
    expect(parseKeep(" daily = 7 , weekly=0 ")).toEqual({ ...none, daily: 7 });
    expect(parseKeep("daily=007")).toEqual({ ...none, daily: 7 });
  });
  it("reads parents=prune and parents=keep (the default)", () => {
    expect(parseKeep("daily=7,parents=prune")).toEqual({ ...none, daily: 7, parents: "prune" });
    expect(parseKeep("parents=keep,last=1")).toEqual({ ...none, last: 1, parents: "keep" });
  });
  it.each([
    ["", /empty --keep/],
    ["   ", /empty --keep/],
    ["daily=7,,weekly=4", /empty item in --keep "daily=7,,weekly=4"/],
    ["daily=7,", /empty item/],
    ["daily", /"daily" is not key=value/],
    ["dayly=7", /unknown key "dayly"/],
    ["keep-daily=7", /unknown key "keep-daily"/],
    ["Daily=7", /unknown key "Daily"/],
    ["within=7d", /unknown key "within"/],
    ["daily=-1", /daily=-1: the count must be a whole number from 0 to 999999/],
    ["daily=1.5", /daily=1.5: the count must be a whole number/],
    ["daily=", /daily=: the count must be a whole number/],
    ["daily=seven", /daily=seven: the count/],
    ["daily=unlimited", /daily=unlimited: the count/],
    ["daily=1000000", /daily=1000000: the count/],
    ["daily=7,daily=8", /"daily" is given twice/],
    ["parents=prune,parents=keep,daily=1", /"parents" is given twice/],
    ["parents=maybe,daily=1", /parents must be keep or prune, not "maybe"/],
    ["daily=0", /--keep "daily=0" keeps nothing \(restic refuses an empty policy too\)/],
    ["last=0,daily=0,parents=prune", /keeps nothing/],
    ["parents=prune", /keeps nothing/],
  ])("refuses %j in one line, with the form to type", (text, pattern) => {
    const e = failure(() => parseKeep(text));
    expect(e.code).toBe("bad_keep");
    expect(e.message).toMatch(pattern);
    expect(e.message).toContain(`expected ${KEEP_HELP}`);
    expect(e.message).not.toMatch(/\n/);
  });
  it("has a help text that names every key and is one line", () => {
    for (const key of ["last=N", "hourly=N", "daily=N", "weekly=N", "monthly=N", "yearly=N", "parents=prune"]) expect(KEEP_HELP).toContain(key);
    expect(KEEP_HELP).not.toMatch(/\n/);
  });
});

describe("formatKeep", () => {
  it("writes non-zero counts in restic's order, parents only when it is prune", () => {
    expect(formatKeep({ ...none, monthly: 6, daily: 7, weekly: 4 })).toBe("daily=7,weekly=4,monthly=6");
    expect(formatKeep({ ...none, yearly: 2, last: 1, hourly: 3, parents: "prune" })).toBe("last=1,hourly=3,yearly=2,parents=prune");
  });
  it.each(["yearly=1,last=2", "weekly=4,daily=7,parents=prune", "monthly=0,hourly=48", "last=999999"])("round-trips %j through text and JSON", (text) => {
    const p = parseKeep(text);
    expect(parseKeep(formatKeep(p))).toEqual(p);
    const stored = JSON.parse(JSON.stringify(p)) as unknown;
    expect(stored).toEqual(p);
    expect(checkKeep(stored)).toEqual(p);
    expect(formatKeep(checkKeep(stored))).toBe(formatKeep(p));
  });
});

describe("checkKeep", () => {
  it("fills missing counts and parents from a stored object", () => {
    expect(checkKeep({ daily: 3 })).toEqual({ ...none, daily: 3 });
  });
  it.each([
    [null, /must be an object/],
    ["daily=7", /must be an object/],
    [{ daily: -1 }, /daily must be a whole number/],
    [{ daily: 1.5 }, /daily must be a whole number/],
    [{ weekly: "4" }, /weekly must be a whole number/],
    [{ daily: 1, parents: "yes" }, /parents must be keep or prune, not "yes"/],
    [{ ...none }, /keeps nothing/],
  ])("refuses %j", (value, pattern) => {
    const e = failure(() => checkKeep(value));
    expect(e.code).toBe("bad_keep");
    expect(e.message).toMatch(pattern);
    expect(e.message).not.toMatch(/\n/);
  });
});
