import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runScript } from "./helpers/bot-process.ts";
import { tempDir } from "./helpers/temp-dir.ts";
import { commands } from "../commands/index.ts";

// The README is what a person who has never seen snapbot reads first: its examples must be what the bot
// prints, and its command list what the bot accepts.
const README = readFileSync(resolve(import.meta.dirname, "../README.md"), "utf8");
const root = tempDir("snapbot-readme-");
const HOME = "~/snapbot"; // where the README's examples pretend to run

/** The README's runnable console examples: a `$ printf '…' | npm start` line, then what it prints. */
function examples(): Array<{ lines: string[]; expected: string[] }> {
  const blocks = [...README.matchAll(/```console\n\$ printf '([^']*)' \| npm start\n([^]*?)```/g)];
  return blocks.map(([, script, output]) => ({ lines: script!.split("\\n").filter(Boolean), expected: output!.trimEnd().split("\n") }));
}

/** What changes from run to run: times, durations, checksums, sizes (tar's headers hold the folder's path), the folder, widths. */
function normalize(lines: string[], cwd?: string): string[] {
  return lines.map((l) =>
    (cwd ? l.replaceAll(cwd, HOME) : l)
      .replace(/\d{4}-\d\d-\d\d[_ ]\d\d[-:]\d\d[-:]\d\dZ?/g, "<time>")
      .replace(/\b\d+(ms|s|m|h|d)\b/g, "<dur>")
      .replace(/sha256:[0-9a-f]+/g, "sha256:<hex>")
      .replace(/\b\d+(\.\d+)? (B|KiB|MiB)\b/g, "<size>")
      .replace(/-{3,}/g, "---")
      .replace(/ {2,}/g, "  ")
      .trimEnd(),
  );
}

describe("the README", () => {
  const found = examples();

  it("has the runnable console examples this test checks", () => {
    expect(found.length).toBeGreaterThanOrEqual(2);
  });

  it.each(found.map((e, i) => [i + 1, e] as const))("example %i prints what the README says", async (_n, example) => {
    const cwd = mkdtempSync(join(root, "ex-"));
    const { code, stdout } = await runScript(cwd, example.lines);
    expect(code).toBe(0);
    expect(normalize(stdout.trimEnd().split("\n"), cwd)).toEqual(normalize(example.expected));
  });

  it("lists every command with every option it takes", () => {
    const block = /## Commands available now\n\n```\n([^]*?)```/.exec(README)?.[1] ?? "";
    expect(block).not.toBe("");
    for (const c of commands) {
      const lines = block.split("\n").filter((l) => new RegExp(`(^|\\s|\\| )${c.name}( |$)`).test(l));
      expect(lines, `${c.name} is missing from the README's command list`).not.toEqual([]);
      for (const flag of Object.keys(c.flags ?? {}))
        expect(lines.join("\n"), `${c.name} --${flag} is missing from the README's command list`).toContain(`--${flag}`);
    }
  });

  it("says nothing is coming that is already here", () => {
    expect(README).not.toMatch(/\(coming\)/);
  });
});
