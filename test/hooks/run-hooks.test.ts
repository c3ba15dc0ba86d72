import { describe, expect, it } from "vitest";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { boundedTail, hookLine, runHooks, shownArgv } from "../../src/hooks/run-hooks.ts";
import { substitute, unknownPlaceholder } from "../../src/drivers/shared/placeholders.ts";
import { hookSteps } from "../../src/engine/operations/create-hooks.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// The pieces under the engine's hooks, pinned: substitution inside one element, the order of global and server
// lists, the bounded tail, and runHooks' stop-at-first-failure (pre) against run-them-all (post), on real processes.

const dir = tempDir("snapbot-run-hooks-");
const out = join(dir, "out");
const argv = join(dir, "argv.sh");
writeFileSync(argv, `#!/bin/sh\nprintf '%s|' "$#" "$@" >> "${out}"\necho >> "${out}"\n[ "$1" = fail ] && { echo "said no" >&2; exit 2; }\nexit 0\n`);
chmodSync(argv, 0o755);
const lines = () => readFileSync(out, "utf8").trim().split("\n");

describe("placeholders", () => {
  it("replaces {server} and {name} inside the element and nothing else", () => {
    expect(substitute("--tag={server}/{name}", { server: "web-1", name: "n1" })).toBe("--tag=web-1/n1");
    expect(substitute("{name}{name}", { name: "a {server}" })).toBe("a {server}a {server}"); // one pass: a value is data
    expect(substitute("awk '{print $1}'", { server: "x" })).toBe("awk '{print $1}'"); // not a placeholder's shape
    expect(substitute('{"host":{"name":"{server}"}}', { server: "web-1" })).toBe('{"host":{"name":"web-1"}}'); // JSON's braces are themselves
    expect(substitute("{{server}} is {server}", { server: "web-1" })).toBe("{server} is web-1"); // {{key}}: the text {key}
  });
  it("names the first unknown one", () => {
    expect(unknownPlaceholder("{server}-{nam}-{x}", ["server", "name"])).toBe("nam");
    expect(unknownPlaceholder("{ name }", ["server", "name"])).toBeNull();
    expect(unknownPlaceholder("{{nam}}", ["server", "name"])).toBeNull(); // the text {nam}, not a placeholder
  });
});

describe("hookSteps", () => {
  it("puts the global pre first and the global post last, each with its own list's timeout", () => {
    const g = { pre: [["g-pre"]], post: [["g-post"]], timeout: "1M" };
    const s = { pre: [["s-pre"]], post: [["s-post"]], timeout: 5 };
    expect(hookSteps(g, s)).toEqual({
      pre: [{ argv: ["g-pre"], timeoutMs: 60_000 }, { argv: ["s-pre"], timeoutMs: 5000 }],
      post: [{ argv: ["s-post"], timeoutMs: 5000 }, { argv: ["g-post"], timeoutMs: 60_000 }],
    });
    expect(hookSteps(undefined, undefined)).toEqual({ pre: [], post: [] });
  });
});

describe("runHooks", () => {
  const runner = createLocalRunner();
  const steps = (...a: string[][]) => a.map((x) => ({ argv: [argv, ...x], timeoutMs: 5000 }));

  it("pre: stops at the first failure, with its error and stderr tail", async () => {
    writeFileSync(out, "");
    const runs = await runHooks("pre", steps(["ok", "{name} x"], ["fail"], ["never"]), runner, { name: "n1" });
    expect(lines()).toEqual(["2|ok|n1 x|", "1|fail|"]); // "{name} x" stayed one argument
    expect(runs.map((r) => r.ok)).toEqual([true, false]);
    expect(runs[1]).toMatchObject({ phase: "pre", error: expect.stringMatching(/argv\.sh failed \(exit 2\): said no$/), tail: "said no" });
    expect(hookLine(runs[1]!)).toMatch(/^pre "argv\.sh fail" failed in \d+m?s: .*said no$/);
  });

  it("post: runs every step whatever failed before", async () => {
    writeFileSync(out, "");
    const runs = await runHooks("post", steps(["fail"], ["ok"]), runner, {});
    expect(runs.map((r) => r.ok)).toEqual([false, true]);
    expect(lines()).toEqual(["1|fail|", "1|ok|"]);
  });

  it("a missing program is a failed hook, not a crash", async () => {
    const [run] = await runHooks("pre", [{ argv: ["/nonexistent/hook"], timeoutMs: 1000 }], runner, {});
    expect(run).toMatchObject({ ok: false, error: "/nonexistent/hook is not installed (not found in PATH)" });
  });
});

describe("display", () => {
  it("names the program by its file name and clips long argv", () => {
    expect(shownArgv(["/usr/sbin/fsfreeze", "-f", "/srv"])).toBe("fsfreeze -f /srv");
    expect(shownArgv(["x", "y".repeat(200)])).toHaveLength(120);
  });
  it("keeps the last 8 lines of a tail, each clipped", () => {
    const tail = boundedTail(Array.from({ length: 20 }, (_, i) => `line ${i}${i === 19 ? " " + "z".repeat(1000) : ""}`).join("\n"));
    expect(tail.split("\n")).toHaveLength(8);
    expect(tail.split("\n")[0]).toBe("line 12");
    expect(tail.split("\n")[7]).toHaveLength(240);
  });
});
