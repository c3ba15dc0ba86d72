import { describe, expect, it } from "vitest";
import { parseArgs, tokenize, expectPositionals } from "../../commands/parse.ts";
import { checkName, parseSnapshotRef } from "../../src/names.ts";
import { addDuration, parseDuration, parseExpiry } from "../../src/duration.ts";
import { UserError } from "../../src/errors.ts";

describe("tokenize", () => {
  it("splits words and keeps quoted phrases whole, Slack's curly quotes too", () => {
    expect(tokenize(`create demo --note "before the upgrade" x`)).toEqual(["create", "demo", "--note", "before the upgrade", "x"]);
    expect(tokenize(`schedule web-1 '0 3 * * *'`)).toEqual(["schedule", "web-1", "0 3 * * *"]);
    expect(tokenize("create demo --note \u201csmart quotes\u201d")).toEqual(["create", "demo", "--note", "smart quotes"]);
    expect(tokenize(`a""b`)).toEqual(["ab"]);
    expect(tokenize(`x ""`)).toEqual(["x", ""]);
    expect(tokenize("  spaced   out  ")).toEqual(["spaced", "out"]);
  });
  it("refuses an unclosed quote and an endless line", () => {
    expect(() => tokenize(`create demo --note "oops`)).toThrow(/unclosed quote/);
    expect(() => tokenize("x".repeat(5000))).toThrow(/keep it under 4000/);
  });
});

describe("parseArgs", () => {
  const spec = { expiry: "value", stateful: "bool", note: "value" } as const;
  const usage = "create <server> …";
  it("sorts positionals, flags and pairs", () => {
    const a = parseArgs(["demo", "n1", "--expiry", "3d 4H", "--stateful", "--note=hi"], spec, usage);
    expect(a).toEqual({ positionals: ["demo", "n1"], flags: { expiry: "3d 4H", stateful: true, note: "hi" }, pairs: {} });
    const r = parseArgs(["f2", "archive", "paths=/etc,/srv", "mode=tar"], {}, usage, true);
    expect(r.pairs).toEqual({ paths: "/etc,/srv", mode: "tar" });
    expect(parseArgs(["paths=/etc"], {}, usage, false).positionals).toEqual(["paths=/etc"]);
  });
  it("refuses a key=value pair given twice instead of keeping the last", () => {
    expect(() => parseArgs(["f2", "archive", "paths=/etc", "paths=/srv"], {}, usage, true)).toThrow(
      /^paths= given twice: give it once \(lists are comma-separated, e\.g\. paths=\/etc,\/srv\)$/,
    );
  });
  it.each([
    [["demo", "--bogus"], /unknown option --bogus; usage: create/],
    [["demo", "--expiry"], /--expiry needs a value/],
    [["demo", "--expiry", "--stateful"], /--expiry needs a value/],
    [["demo", "--stateful=yes"], /--stateful takes no value/],
    [["demo", "--expiry", "1d", "--expiry", "2d"], /^--expiry given twice: give it once; usage: create/],
    [["demo", "--expiry=1d", "--expiry", "2d"], /^--expiry given twice: give it once/],
    [["demo", "--stateful", "--stateful"], /^--stateful given twice: give it once/],
  ])("refuses %j", (words, pattern) => {
    expect(() => parseArgs(words, spec, usage)).toThrow(pattern);
  });
  it("counts positionals", () => {
    const a = parseArgs(["a", "b", "c"], {}, "u");
    expect(() => expectPositionals(a, 1, 2, "show <x>")).toThrow(/unexpected "c"; usage: show <x>/);
    expect(() => expectPositionals(parseArgs([], {}, "u"), 1, 1, "show <x>")).toThrow(/missing argument; usage: show <x>/);
  });
});

describe("names and references", () => {
  it.each(["../x", "a;rm -rf /", "", "x".repeat(200), "-rf", ".hidden", "a/b", "a b", "$(id)", "a..b", "é"])("refuses %j", (bad) => {
    expect(() => checkName("snapshot", bad)).toThrow(UserError);
    expect(() => checkName("snapshot", bad)).toThrow(/use 1–63 letters, digits/);
  });
  it.each(["web-1", "a", "2026-11-22_03-00-00", "snap.0", "A_b-c"])("accepts %j", (good) => {
    expect(checkName("server", good)).toBe(good);
  });
  it("parses <server>/<snap> and explains a bad one", () => {
    expect(parseSnapshotRef("web-1/snap0", "u")).toEqual({ server: "web-1", snapshot: "snap0" });
    expect(() => parseSnapshotRef("web-1", "show <server>/<snap>")).toThrow(/not <server>\/<snapshot>; usage: show/);
    expect(() => parseSnapshotRef("web-1/../../etc", "u")).toThrow(/not a valid snapshot name/);
  });
});

describe("durations (LXD expiry syntax)", () => {
  const t0 = Date.UTC(2026, 0, 31, 12, 0);
  it("adds each unit, months calendar-aware", () => {
    expect(addDuration(t0, parseDuration("30M")) - t0).toBe(30 * 60_000);
    expect(addDuration(t0, parseDuration("2H 3d")) - t0).toBe((2 + 72) * 3_600_000);
    expect(addDuration(t0, parseDuration("1w")) - t0).toBe(7 * 86_400_000);
    expect(new Date(addDuration(t0, parseDuration("1y"))).toISOString()).toBe("2027-01-31T12:00:00.000Z");
    expect(new Date(addDuration(Date.UTC(2026, 0, 15), parseDuration("1m"))).toISOString()).toBe("2026-02-15T00:00:00.000Z");
  });
  it.each(["", "3", "3x", "d3", "1.5d", "-1d", "3 d"])("refuses %j with the syntax to use", (bad) => {
    expect(() => parseDuration(bad)).toThrow(/30M, 2H, 3d/);
  });
  it.each(["99999999y", "1000000000000000000000M", "101y", "99y 2y"])("calls %j too large, not \"not a duration\"", (big) => {
    expect(() => parseDuration(big)).toThrow(/^".+" is too large: a duration can be at most 100y$/);
  });
  it("takes a century, and an expiry of a minute or more only", () => {
    expect(parseDuration("100y").years).toBe(100);
    expect(parseExpiry("1M").minutes).toBe(1);
    for (const zero of ["0M", "0d 0H", "0y"]) expect(() => parseExpiry(zero)).toThrow(/^an expiry must be at least 1M: e\.g\. --expiry 7d$/);
  });
});
