import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { remoteCommand, shellQuote } from "../../src/transport/shell-quote.ts";

const run = promisify(execFile);

const HOSTILE = [
  "",
  "a b",
  "it's",
  "''",
  "'\\''",
  `"double" quotes`,
  "$(touch /tmp/pwned)",
  "`id`",
  ";rm -rf /",
  "a\nb",
  "trailing newline\n",
  "\\",
  "back\\slash\\",
  "$HOME ${PATH} $1 $@ $*",
  "*",
  "~",
  "~root",
  "-n",
  "--",
  "a | b > c < d & e",
  "!history",
  "#comment",
  "tab\there",
  "{a,b}",
  "x=1",
  "ünïcødé ☃",
];

describe("shellQuote", () => {
  it("leaves plain words readable", () => {
    expect(shellQuote("tar")).toBe("tar");
    expect(shellQuote("/srv/data-1/file_2.txt")).toBe("/srv/data-1/file_2.txt");
    expect(shellQuote("--exclude=./cache")).toBe("--exclude=./cache");
  });

  it("single-quotes everything else, escaping embedded quotes", () => {
    expect(shellQuote("")).toBe("''");
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("$(x)")).toBe("'$(x)'");
  });

  it("refuses NUL, which no shell argument can hold", () => {
    expect(() => shellQuote("a\0b")).toThrow(/NUL/);
  });

  it("round-trips hostile words through a real sh -c unchanged", async () => {
    const line = remoteCommand("printf", ["%s\\0", ...HOSTILE]);
    const { stdout } = await run("sh", ["-c", line], { cwd: "/tmp" });
    expect(stdout.split("\0").slice(0, -1)).toEqual(HOSTILE);
  });

  it("round-trips when quoted twice (sh -c inside the remote shell)", async () => {
    const inner = remoteCommand("printf", ["%s\\0", ...HOSTILE]);
    const { stdout } = await run("sh", ["-c", remoteCommand("sh", ["-c", inner])]);
    expect(stdout.split("\0").slice(0, -1)).toEqual(HOSTILE);
  });

  it("rejects an empty program name", () => {
    expect(() => remoteCommand("", [])).toThrow();
  });
});
