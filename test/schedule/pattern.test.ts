import { describe, expect, it } from "vitest";
import { DEFAULT_PATTERN, checkPattern, renderPattern } from "../../src/schedule/pattern.ts";
import { formatGoTime } from "../../src/schedule/go-time-layout.ts";
import { addDuration, parseDuration } from "../../src/duration.ts";
import { UserError } from "../../src/errors.ts";

const at = (iso: string): number => Date.parse(iso);
const NOW = at("2024-03-05T14:07:09.123Z");
const none = (): boolean => false;

function userError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).message).not.toMatch(/\n/);
    return e as UserError;
  }
  throw new Error("expected a UserError");
}

describe("LXD's documented patterns", () => {
  // https://documentation.ubuntu.com/lxd/en/latest/reference/instance_options/#instance-options-snapshots-names
  // "For example, set snapshots.pattern to {{ creation_date|date:'2006-01-02_15-04-05' }} to name the
  //  snapshots after their time of creation, down to the precision of a second."
  it("renders the documented date example", () => {
    expect(renderPattern("{{ creation_date|date:'2006-01-02_15-04-05' }}", NOW, none)).toBe("2024-03-05_14-07-09");
  });

  it("accepts both quotes, no spaces, spaces around | and :, and text around the date", () => {
    // Older LXD docs wrote {{ creation_date|date:"2006-01-02_15-04-05" }}; user guides prefix a name.
    expect(renderPattern(`{{ creation_date|date:"2006-01-02_15-04-05" }}`, NOW, none)).toBe("2024-03-05_14-07-09");
    expect(renderPattern("{{creation_date|date:'20060102'}}", NOW, none)).toBe("20240305");
    expect(renderPattern("{{ creation_date | date : '15h04' }}", NOW, none)).toBe("14h07");
    expect(renderPattern("web-1-{{ creation_date|date:'2006-01-02' }}-auto", NOW, none)).toBe("web-1-2024-03-05-auto");
    expect(renderPattern("{{ creation_date|date:'Jan'|lower }}-{{ creation_date|date:'Mon'|upper }}", NOW, none)).toBe("mar-TUE");
  });

  // Same page: "Another way to avoid name collisions is to use the placeholder %d in the pattern. For the
  // first snapshot, the placeholder is replaced with 0. For subsequent snapshots, the existing snapshot
  // names are taken into account to find the highest number at the placeholder's position. This number
  // is then incremented by one for the new name." Default: snap%d.
  it("numbers %d from 0, then one above the highest existing number", () => {
    expect(DEFAULT_PATTERN).toBe("snap%d");
    expect(renderPattern(DEFAULT_PATTERN, NOW, [])).toBe("snap0");
    expect(renderPattern("", NOW, [])).toBe("snap0");
    expect(renderPattern("snap%d", NOW, ["snap0", "snap1"])).toBe("snap2");
    expect(renderPattern("snap%d", NOW, ["snap5", "snap0"])).toBe("snap6"); // not the gap at 1
    expect(renderPattern("snap%d", NOW, ["other7", "snapshot3", "snap-2"])).toBe("snap0");
    // Go's Sscanf reads the number and ignores what follows the pattern, as LXD does.
    expect(renderPattern("snap%d", NOW, ["snap3-before-upgrade"])).toBe("snap4");
    expect(renderPattern("daily-%d-{{ creation_date|date:'2006' }}", NOW, ["daily-4-2024", "daily-9-2023"])).toBe("daily-5-2024");
  });

  it("with only a predicate, takes the first free number", () => {
    const taken = new Set(["snap0", "snap2"]);
    expect(renderPattern("snap%d", NOW, (n) => taken.has(n))).toBe("snap1");
    expect(renderPattern("snap%d", NOW, none)).toBe("snap0");
  });

  it("appends -%d when a name without %d exists (lxd NextSnapshotName)", () => {
    const p = "{{ creation_date|date:'2006-01-02' }}";
    expect(renderPattern(p, NOW, [])).toBe("2024-03-05");
    expect(renderPattern(p, NOW, ["2024-03-05"])).toBe("2024-03-05-0");
    expect(renderPattern(p, NOW, ["2024-03-05", "2024-03-05-0"])).toBe("2024-03-05-1");
    expect(renderPattern(p, NOW, (n) => n === "2024-03-05" || n === "2024-03-05-0")).toBe("2024-03-05-1");
  });
});

describe("bad patterns", () => {
  it.each([
    ["snap%d-%d", /"%d" may appear only once/],
    ["{{ creation_date }}", /creation_date needs a \|date:'<Go layout>' filter/],
    ["{{ now|date:'2006' }}", /unknown template variable "now" \(the only one is creation_date\)/],
    ["{{ creation_date|datetime:'2006' }}", /unknown or misplaced template filter "datetime"/],
    ["{{ creation_date|lower }}", /unknown or misplaced template filter "lower"/],
    ["{{ creation_date|date }}", /the date filter needs a quoted Go layout/],
    ["{{ creation_date|date:'2006 }}", /missing its closing '/],
    ["snap-{{ creation_date|date:'2006'", /"\{\{" is not closed/],
    ["{% now \"2006\" %}", /tags and comments are not supported/],
    ["{# note #}snap%d", /tags and comments are not supported/],
    ["{{ creation_date|date:'2006/01/02' }}", /gives the name "2024\/03\/05", but snapshot names are 1–63 letters/],
    ["{{ creation_date|date:'Jan 2 15:04' }}", /gives the name "Mar 5 14:07"/],
    ["-{{ creation_date|date:'2006' }}", /gives the name "-2024"/],
    ["a..b%d", /gives the name "a..b0"/],
    ["x".repeat(70), /gives the name "x{40}…"/],
  ])("%j", (pattern, message) => {
    const e = userError(() => renderPattern(pattern, NOW, none));
    expect(e.code).toBe("bad_pattern");
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`use e.g. "snap%d" or "{{ creation_date|date:'2006-01-02_15-04-05' }}"`);
    expect(userError(() => checkPattern(pattern)).code).toBe("bad_pattern");
  });

  it("checkPattern accepts good patterns and catches names that are bad only on some dates", () => {
    for (const p of [DEFAULT_PATTERN, "{{ creation_date|date:'2006-01-02_15-04-05' }}", "daily-%d", "{{ creation_date|date:'Monday-January-_2' }}x"]) {
      if (p.includes("_2'")) expect(() => checkPattern(p)).toThrow(/gives the name "Monday-January- 2x"/);
      else expect(() => checkPattern(p)).not.toThrow();
    }
    // "_2" pads days below 10 with a space: fine on the 27th, not on the 2nd.
    expect(renderPattern("{{ creation_date|date:'2006-01-_2' }}", at("2024-03-27T00:00Z"), none)).toBe("2024-03-27");
    expect(() => checkPattern("{{ creation_date|date:'2006-01-_2' }}")).toThrow(/gives the name "2006-01- 2"/);
  });
});

describe("Go time layouts (UTC)", () => {
  const T = at("2009-02-03T04:05:06.789Z"); // a Tuesday, day 34 of the year
  it.each([
    ["2006 06 01 1 Jan January", "2009 09 02 2 Feb February"],
    ["02 2 _2 002 __2", "03 3  3 034  34"],
    ["15 03 3 04 4 05 5 PM pm", "04 04 4 05 5 06 6 AM am"],
    ["Mon Monday MST", "Tue Tuesday UTC"],
    ["Z07:00 Z0700 Z07 -0700 -07:00 -07 -070000 -07:00:00", "Z Z Z +0000 +00:00 +00 +000000 +00:00:00"],
    [".000 .000000 .999 ,000 .9 .000000000", ".789 .789000 .789 ,789 .7 .789000000"],
    ["Janet Month _2006 7 8 9 0", "Janet Month _2009 7 8 9 0"],
    ["2006-01-02T15:04:05Z07:00", "2009-02-03T04:05:06Z"],
  ])("%s", (layout, expected) => {
    expect(formatGoTime(layout, T)).toBe(expected);
  });

  it("handles noon, midnight and trailing zeros as Go does", () => {
    expect(formatGoTime("3PM 03pm 15", at("2024-03-05T00:30:00Z"))).toBe("12AM 12am 00");
    expect(formatGoTime("3PM 03pm 15", at("2024-03-05T12:30:00Z"))).toBe("12PM 12pm 12");
    expect(formatGoTime("3PM", at("2024-03-05T23:30:00Z"))).toBe("11PM");
    expect(formatGoTime("05.999", at("2024-03-05T00:00:07.500Z"))).toBe("07.5");
    expect(formatGoTime("05.999|05.000", at("2024-03-05T00:00:07Z"))).toBe("07|07.000");
    expect(formatGoTime("002 __2", at("2024-12-31T00:00:00Z"))).toBe("366 366");
  });
});

describe("expiry (src/duration.ts) against LXD's snapshots.expiry", () => {
  // LXD docs: snapshots.expiry takes "an expression like 1M 2H 3d 4w 5m 6y"; shared.GetExpiry applies it
  // with Go's refDate.AddDate(years, months, days+7*weeks).Add(hours, minutes).
  it("parses the documented example", () => {
    expect(parseDuration("1M 2H 3d 4w 5m 6y")).toEqual({ minutes: 1, hours: 2, days: 3, weeks: 4, months: 5, years: 6 });
  });

  it.each([
    ["2023-01-31T10:00:00Z", "1m", "2023-03-03T10:00:00.000Z"], // Feb 31 → Mar 3 (AddDate normalises)
    ["2024-01-31T10:00:00Z", "1m", "2024-03-02T10:00:00.000Z"], // leap year
    ["2024-02-29T00:00:00Z", "1y", "2025-03-01T00:00:00.000Z"],
    ["2024-02-29T00:00:00Z", "4y", "2028-02-29T00:00:00.000Z"],
    ["2023-12-31T00:00:00Z", "2m", "2024-03-02T00:00:00.000Z"],
    ["2023-01-31T00:00:00Z", "1m 1d", "2023-03-04T00:00:00.000Z"], // AddDate(0, 1, 1): Feb 32 → Mar 4
    ["2020-01-31T00:00:00Z", "1M 2H 3d 4w 5m 6y", "2026-08-01T02:01:00.000Z"], // Jun 31+31 → Aug 1
    ["2024-03-30T23:30:00Z", "45M", "2024-03-31T00:15:00.000Z"],
    ["2024-03-05T00:00:00Z", "2w", "2024-03-19T00:00:00.000Z"],
  ])("%s + %s = %s", (from, expr, expected) => {
    expect(new Date(addDuration(at(from), parseDuration(expr))).toISOString()).toBe(expected);
  });
});
