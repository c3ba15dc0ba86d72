import { describe, expect, it } from "vitest";
import { planRetention, type RetentionCandidate } from "../../src/retention/apply-policy.ts";
import { parseKeep } from "../../src/retention/keep-policy.ts";

const at = (s: string): number => Date.parse(`${s.replace(" ", "T")}Z`);
const iso = (t: number): string => new Date(t).toISOString().replace("T", " ").replace(/(\.000)?Z$/, "");
const snap = (id: number, when: string | number, extra: Partial<RetentionCandidate> = {}): RetentionCandidate => ({
  id, name: `s${id}`, createdAt: typeof when === "number" ? when : at(when), state: "done", hasChildren: false, inUse: null, ...extra,
});
const list = (times: string[]): RetentionCandidate[] => times.map((t, i) => snap(i + 1, t));
const plan = (snaps: RetentionCandidate[], keep: string) => planRetention(snaps, parseKeep(keep));
const keptTimes = (snaps: RetentionCandidate[], keep: string): string[] => {
  const byId = new Map(snaps.map((s) => [s.id, s.createdAt]));
  return plan(snaps, keep).keep.map((k) => iso(byId.get(k.id)!));
};
/** restic's "matches" without our period labels: "daily snapshot" ↔ "daily", "oldest yearly snapshot" ↔ "oldest yearly". */
const kinds = (snaps: RetentionCandidate[], keep: string): string[][] => plan(snaps, keep).keep.map((k) => k.reasons.map((r) => r.replace(/ \S+( \d\d:00)?$/, "")));

// restic's TestApplyPolicy fixture (internal/restic/snapshot_policy_test.go), in its order, times in UTC:
// the same 40 days in 2014 and 2015 (2015-10-22 five times), then 19 times in January 2016.
const DAYS = ["09-01", "09-02", "09-05", "09-06", "09-08", "09-09", "09-10", "09-11", "09-20", "09-22", "08-08", "08-10", "08-12", "08-13", "08-13.1", "08-15",
  "08-18", "08-20", "08-21", "08-22", "10-01", "10-02", "10-05", "10-06", "10-08", "10-09", "10-10", "10-11", "10-20", "10-22", "11-08", "11-10", "11-12",
  "11-13", "11-13.1", "11-15", "11-18", "11-20", "11-21", "11-22"];
const year = (y: number, copiesOfOct22: number): string[] =>
  DAYS.flatMap((d) => Array<string>(d === "10-22" ? copiesOfOct22 : 1).fill(`${y}-${d.slice(0, 5)} 10:20:30${d.slice(5)}`));
const RESTIC = list([...year(2014, 1), ...year(2015, 5), ...["01-01 01:02:03", "01-01 01:03:03", "01-01 07:08:03", "01-03 07:02:03", "01-04 10:23:03",
  "01-04 11:23:03", "01-04 12:23:03", "01-04 12:24:03", "01-04 12:28:03", "01-04 12:30:03", "01-04 16:23:03", "01-05 09:02:03", "01-06 08:02:03",
  "01-07 10:02:03", "01-08 20:02:03", "01-09 21:02:03", "01-12 21:02:03", "01-12 21:08:03", "01-18 12:02:03"].map((d) => `2016-${d}`)]);

describe("restic's own policy cases", () => {
  it("uses restic's 103-snapshot fixture", () => {
    expect(RESTIC).toHaveLength(103);
    expect([RESTIC[14]!.createdAt - RESTIC[13]!.createdAt, RESTIC.filter((s) => iso(s.createdAt) === "2015-10-22 10:20:30").length]).toEqual([100, 5]);
  });
  // Golden files internal/restic/testdata/policy_keep_snapshots_<n> (commits 9fd3796, de307ea), "keep" and "matches".
  it.each([
    ["6: daily=3", "daily=3", ["2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-09 21:02:03"]],
    ["11: weekly=2", "weekly=2", ["2016-01-18 12:02:03", "2016-01-12 21:08:03"]],
    ["12: weekly=4", "weekly=4", ["2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-09 21:02:03", "2016-01-03 07:02:03"]],
    ["13: daily=3,weekly=4", "daily=3,weekly=4", ["2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-09 21:02:03", "2016-01-03 07:02:03"]],
    ["9: last=5,daily=5", "last=5,daily=5", ["2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-12 21:02:03", "2016-01-09 21:02:03", "2016-01-08 20:02:03", "2016-01-07 10:02:03"]],
    ["10: last=2,daily=10", "last=2,daily=10", ["2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-09 21:02:03", "2016-01-08 20:02:03", "2016-01-07 10:02:03",
      "2016-01-06 08:02:03", "2016-01-05 09:02:03", "2016-01-04 16:23:03", "2016-01-03 07:02:03", "2016-01-01 07:08:03"]],
  ])("policy %s", (_n, keep, times) => {
    expect(keptTimes(RESTIC, keep)).toEqual(times);
  });
  it("13 and 9: the reasons match restic's, rule by rule", () => {
    expect(kinds(RESTIC, "daily=3,weekly=4")).toEqual([["daily", "weekly"], ["daily", "weekly"], ["daily", "weekly"], ["weekly"]]);
    expect(kinds(RESTIC, "last=5,daily=5")).toEqual([["last", "daily"], ["last", "daily"], ["last"], ["last", "daily"], ["last", "daily"], ["daily"]]);
    expect(plan(RESTIC, "daily=3,weekly=4").keep.at(-1)!.reasons).toEqual(["weekly 2015-W53"]); // 2016-01-03 is a Sunday of 2015-W53
  });
  // Golden 16 and 17 predate restic 0.17 (PR #4366): since then a rule with a count left also keeps the
  // oldest snapshot ("oldest yearly snapshot"), here 2014-08-08, the fixture's oldest.
  it("16: yearly=10, plus the oldest snapshot as restic >= 0.17 does", () => {
    expect(keptTimes(RESTIC, "yearly=10")).toEqual(["2016-01-18 12:02:03", "2015-11-22 10:20:30", "2014-11-22 10:20:30", "2014-08-08 10:20:30"]);
    expect(plan(RESTIC, "yearly=10").keep.at(-1)!.reasons).toEqual(["oldest yearly 2014"]);
  });
  it("17: daily=7,weekly=2,monthly=3,yearly=10", () => {
    expect(keptTimes(RESTIC, "daily=7,weekly=2,monthly=3,yearly=10")).toEqual([
      "2016-01-18 12:02:03", "2016-01-12 21:08:03", "2016-01-09 21:02:03", "2016-01-08 20:02:03", "2016-01-07 10:02:03", "2016-01-06 08:02:03",
      "2016-01-05 09:02:03", "2015-11-22 10:20:30", "2015-10-22 10:20:30", "2014-11-22 10:20:30", "2014-08-08 10:20:30",
    ]);
    expect(kinds(RESTIC, "daily=7,weekly=2,monthly=3,yearly=10")).toEqual([
      ["daily", "weekly", "monthly", "yearly"], ["daily", "weekly"], ["daily"], ["daily"], ["daily"], ["daily"], ["daily"],
      ["monthly", "yearly"], ["monthly"], ["yearly"], ["oldest yearly"],
    ]);
    expect(plan(RESTIC, "daily=7,weekly=2,monthly=3,yearly=10").keep[0]!.reasons).toEqual(["daily 2016-01-18", "weekly 2016-W03", "monthly 2016-01", "yearly 2016"]);
  });
});

describe("restic's documentation", () => {
  // https://restic.readthedocs.io/en/latest/060_forget.html, "Removing snapshots according to a policy":
  // "Suppose you have only made one backup every Sunday for 12 weeks … Then `forget --keep-daily 4` will keep
  // the last four snapshots, for the last four Sundays, and remove the other snapshots".
  it("keeps the last four Sundays with daily=4", () => {
    const sundays = list(["09-01", "09-08", "09-15", "09-22", "09-29", "10-06", "10-13", "10-20", "10-27", "11-03", "11-10", "11-17"].map((d) => `2019-${d} 11:00:00`));
    const p = plan(sundays, "daily=4");
    expect(p.keep.map((k) => k.reasons)).toEqual([["daily 2019-11-17"], ["daily 2019-11-10"], ["daily 2019-11-03"], ["daily 2019-10-27"]]);
    expect(p.remove.map((r) => r.name)).toEqual(["s8", "s7", "s6", "s5", "s4", "s3", "s2", "s1"]);
    expect(p.remove[0]!.why).toBe("not kept by daily=4");
    expect(p.protect).toEqual([]);
  });
  // Same page: "a snapshot only need to match a single option to be kept (the results are ORed). This means that
  // the most recent snapshot on a Sunday would match both hourly, daily and weekly". And: "suppose you make one
  // backup every day for 100 years. Then forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --keep-yearly 75
  // would keep the most recent 7 daily snapshots and 4 last-day-of-the-week ones (since the 7 dailies already
  // include 1 weekly). Additionally, 12 or 11 last-day-of-the-month snapshots … 75 or 74 last-day-of-the-year".
  it("ORs the rules: one backup a day for 100 years", () => {
    const end = at("2026-11-22 12:00:00"); // a Sunday
    expect(new Date(end).getUTCDay()).toBe(0);
    const days = Array.from({ length: 36_525 }, (_, i) => snap(i + 1, end - i * 86_400_000));
    const p = plan(days, "daily=7,weekly=5,monthly=12,yearly=75");
    const count = (rule: string) => p.keep.filter((k) => k.reasons.some((r) => r.startsWith(`${rule} `))).length;
    expect([count("daily"), count("weekly"), count("monthly"), count("yearly")]).toEqual([7, 5, 12, 75]);
    expect(p.keep[0]!.reasons).toEqual(["daily 2026-11-22", "weekly 2026-W47", "monthly 2026-11", "yearly 2026"]);
    // 7 dailies + 4 older Sundays + 11 month ends (Oct 2026…Dec 2025) + 73 year ends (2024…1952; 2025-12-31 is a month end)
    expect(p.keep).toHaveLength(95);
    expect(p.keep.at(-1)!.reasons).toEqual(["yearly 1952"]);
    expect(p.remove).toHaveLength(36_525 - 95);
  });
});

describe("calendar periods, UTC", () => {
  it("groups ISO weeks across the year boundary: 2020-12-31 and 2021-01-03 are both 2020-W53", () => {
    const s = list(["2020-12-27 09:00:00", "2020-12-28 09:00:00", "2020-12-31 09:00:00", "2021-01-03 09:00:00", "2021-01-04 09:00:00"]);
    expect(plan(s, "weekly=3").keep.map((k) => k.reasons)).toEqual([["weekly 2021-W01"], ["weekly 2020-W53"], ["weekly 2020-W52"]]);
    expect(plan(s, "weekly=3").remove.map((r) => r.name)).toEqual(["s3", "s2"]);
    // 2025-12-31 (a Wednesday) is in 2026-W01; a week is Monday 00:00 to Sunday 23:59
    expect(plan(list(["2025-12-28 23:59:59", "2025-12-29 00:00:00", "2026-01-01 00:00:00"]), "weekly=2").keep.map((k) => k.reasons)).toEqual([["weekly 2026-W01"], ["weekly 2025-W52"]]);
  });
  it("splits months and years at midnight UTC", () => {
    const s = list(["2025-11-30 12:00:00", "2025-12-31 23:59:59.999", "2026-01-01 00:00:00", "2026-01-31 23:59:59", "2026-02-01 00:00:00.001"]);
    expect(plan(s, "monthly=3").keep.map((k) => k.reasons)).toEqual([["monthly 2026-02"], ["monthly 2026-01"], ["monthly 2025-12"]]);
    expect(plan(s, "yearly=1").keep.map((k) => k.name)).toEqual(["s5"]);
    expect(plan(s, "yearly=2").keep.map((k) => k.reasons)).toEqual([["yearly 2026"], ["yearly 2025"]]);
    expect(plan(s, "daily=2").keep.map((k) => k.reasons)).toEqual([["daily 2026-02-01"], ["daily 2026-01-31"]]);
  });
  it("keeps the newest snapshot of each hour", () => {
    const s = list(["2016-01-04 11:59:59", "2016-01-04 12:23:03", "2016-01-04 12:30:03", "2016-01-04 13:00:00"]);
    expect(plan(s, "hourly=2").keep.map((k) => k.reasons)).toEqual([["hourly 2016-01-04 13:00"], ["hourly 2016-01-04 12:00"]]);
  });
  it("labels periods as Date does, for any time from 1900 to 2100", () => {
    const all = parseKeep("hourly=1,daily=1,weekly=1,monthly=1,yearly=1");
    let seed = 7;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 48_271) % 2_147_483_647;
      const t = Date.UTC(1900, 0, 1) + (seed / 2_147_483_647) * (Date.UTC(2100, 0, 1) - Date.UTC(1900, 0, 1));
      const d = new Date(t);
      const thursday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 4 - (d.getUTCDay() || 7)));
      const week = Math.ceil((thursday.getTime() - Date.UTC(thursday.getUTCFullYear(), 0, 1)) / 86_400_000 / 7 + 1 / 7);
      const day = d.toISOString().slice(0, 10);
      expect(planRetention([snap(1, t)], all).keep[0]!.reasons).toEqual([
        `hourly ${day} ${d.toISOString().slice(11, 13)}:00`, `daily ${day}`,
        `weekly ${thursday.getUTCFullYear()}-W${String(week).padStart(2, "0")}`, `monthly ${day.slice(0, 7)}`, `yearly ${day.slice(0, 4)}`,
      ]);
    }
  });
});

describe("restic's details", () => {
  it("a count of N keeps at most N snapshots per rule; last counts snapshots", () => {
    const s = list(["2026-03-01 10:00:00", "2026-03-01 11:00:00", "2026-03-02 10:00:00", "2026-03-03 10:00:00", "2026-03-04 10:00:00"]);
    expect(plan(s, "daily=2").keep.map((k) => k.reasons)).toEqual([["daily 2026-03-04"], ["daily 2026-03-03"]]);
    expect(plan(s, "last=3").keep.map((k) => k.reasons)).toEqual([["last 1"], ["last 2"], ["last 3"]]);
  });
  it("keeps the oldest snapshot while a rule has a count left (restic >= 0.17), and only then", () => {
    const s = list(["2026-03-01 08:00:00", "2026-03-01 09:00:00", "2026-03-01 10:00:00"]);
    expect(plan(s, "daily=7").keep.map((k) => [k.name, k.reasons])).toEqual([["s3", ["daily 2026-03-01"]], ["s1", ["oldest daily 2026-03-01"]]]);
    expect(plan(s, "daily=7").remove).toEqual([{ id: 2, name: "s2", why: "not kept by daily=7" }]);
    expect(plan(s, "daily=1").keep.map((k) => k.name)).toEqual(["s3"]);
    expect(plan(s, "last=2").keep.map((k) => k.name)).toEqual(["s3", "s2"]);
  });
  it("breaks ties on time by id (the higher id is newer), whatever the input order", () => {
    const s = [snap(5, "2026-05-05 05:05:05"), snap(9, "2026-05-05 05:05:05"), snap(7, "2026-05-05 05:05:05"), snap(1, "2026-05-04 00:00:00")];
    expect(plan(s, "daily=1").keep.map((k) => k.id)).toEqual([9]);
    expect(plan(s, "last=2").keep.map((k) => k.id)).toEqual([9, 7]);
    expect(plan(s, "last=2").remove.map((k) => k.id)).toEqual([5, 1]);
    const [old, a, b] = [snap(1, "2026-05-04 00:00:00"), snap(2, "2026-05-05 05:05:05"), snap(3, "2026-05-05 05:05:05")];
    for (const input of [[old, a, b], [b, a, old], [a, b, old], [old, b, a], [b, old, a]]) expect(plan(input, "last=3").keep.map((k) => k.id)).toEqual([3, 2, 1]);
    expect(plan([snap(1, 1000.5), snap(3, 999.25), snap(2, 1000.5)], "last=3").keep.map((k) => k.id)).toEqual([2, 1, 3]); // not whole ms: still sorted
  });
});

describe("snapbot's rules on top of restic", () => {
  const day = (d: number, extra: Partial<RetentionCandidate> = {}) => snap(d, `2026-06-${String(d).padStart(2, "0")} 03:00:00`, extra);
  it("lets only done snapshots count; broken ones are removed and never count as kept", () => {
    const s = [day(1), day(2), day(3, { state: "broken" }), day(4, { state: "broken" })];
    const p = plan(s, "daily=2");
    expect(p.keep.map((k) => k.name)).toEqual(["s2", "s1"]);
    expect(p.remove).toEqual([{ id: 4, name: "s4", why: "broken: never counts as kept" }, { id: 3, name: "s3", why: "broken: never counts as kept" }]);
    expect(plan(s, "last=1").keep.map((k) => k.name)).toEqual(["s2"]);
  });
  it("ignores every other state entirely", () => {
    const others = ["pending", "running", "deleting", "deleted", "failed", "expired"].map((state, i) => day(10 + i, { state }));
    const p = plan([day(1), day(2), ...others], "last=1");
    expect(p).toEqual({ keep: [{ id: 2, name: "s2", reasons: ["last 1"] }], remove: [{ id: 1, name: "s1", why: "not kept by last=1" }], protect: [] });
  });
  it("protects snapshots in use and parents of others, with the reason", () => {
    const s = [day(1, { hasChildren: true }), day(2, { inUse: "restore running (operation #4)" }), day(3, { state: "broken", inUse: "verify queued (operation #5)" }), day(4), day(5)];
    const p = plan(s, "last=1,weekly=1");
    expect(p.keep).toEqual([{ id: 5, name: "s5", reasons: ["last 1", "weekly 2026-W23"] }]);
    expect(p.remove).toEqual([{ id: 4, name: "s4", why: "not kept by last=1,weekly=1" }]);
    expect(p.protect).toEqual([
      { id: 3, name: "s3", why: "in use: verify queued (operation #5) (would be removed: broken: never counts as kept)" },
      { id: 2, name: "s2", why: "in use: restore running (operation #4) (would be removed: not kept by last=1,weekly=1)" },
      { id: 1, name: "s1", why: "has children (parents=prune lets it go) (would be removed: not kept by last=1,weekly=1)" },
    ]);
    const pruned = plan(s, "last=1,weekly=1,parents=prune");
    expect(pruned.remove.map((r) => [r.name, r.why])).toEqual([["s4", "not kept by last=1,weekly=1"], ["s1", "not kept by last=1,weekly=1"]]);
    expect(pruned.protect.map((r) => r.name)).toEqual(["s3", "s2"]);
  });
  it("never removes the newest done snapshot, even behind newer broken ones", () => {
    const s = [day(1), day(2), day(3, { state: "broken" })];
    for (const keep of ["last=1", "hourly=1", "daily=1", "weekly=1", "monthly=1", "yearly=1"]) expect(plan(s, keep).keep[0]!.id).toBe(2);
  });
  it("gives an empty plan for no snapshots, and refuses a policy that keeps nothing", () => {
    expect(plan([], "daily=1")).toEqual({ keep: [], remove: [], protect: [] });
    expect(() => planRetention([day(1)], { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, parents: "keep" })).toThrow(/keeps nothing/);
  });
  it("plans 100,000 snapshots the same in any order (speed: npm run bench -- scheduler)", () => {
    const start = at("2015-01-01 00:00:00");
    const many = Array.from({ length: 100_000 }, (_, i) => snap(i + 1, start + i * 3_600_000 + (i % 7) * 60_000, { hasChildren: i % 10 === 0, state: i % 97 === 0 ? "broken" : "done" }));
    const shuffled = [...many];
    let seed = 42;
    for (let i = shuffled.length - 1; i > 0; i--) {
      seed = (seed * 48_271) % 2_147_483_647;
      const j = seed % (i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const policy = parseKeep("last=10,hourly=48,daily=30,weekly=12,monthly=24,yearly=10");
    const expected = planRetention(many, policy);
    const got = planRetention(shuffled, policy);
    expect(got).toEqual(expected);
    expect(planRetention([...many].reverse(), policy)).toEqual(expected);
    expect(got.keep.length + got.remove.length + got.protect.length).toBe(100_000);
    expect(got.keep[0]!.reasons).toEqual(["last 1", "hourly 2026-05-29 15:00", "daily 2026-05-29", "weekly 2026-W22", "monthly 2026-05", "yearly 2026"]);
  });
});
