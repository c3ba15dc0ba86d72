import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFile } from "../../../src/config/load-config.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { checkClean } from "../../../src/drivers/command/clean-check.ts";
import type { CommandContextDeps } from "../../../src/drivers/command/command-context.ts";

// The README's application examples are configs the bot accepts as written (PostgreSQL, etcd, Cloudify), and the
// clean rule reads what their clean steps print: 0, nothing or [] is clean; anything else is why not.

const README = readFileSync(resolve(import.meta.dirname, "../../../README.md"), "utf8");
const section = /## Application snapshots \(driver: command\)\n([^]*?)\n## /.exec(README)?.[1] ?? "";
const RECIPIENT = "age1yxlfyg96sj9e7xljhtd28hl5mgaw87d23va9j0xh05ttxd33fynqk0gnxk";

describe("README: application snapshots", () => {
  const blocks = [...section.matchAll(/```yaml\n([^]*?)```/g)].map((m) => m[1]!);

  it("has the PostgreSQL, etcd and Cloudify examples", () => {
    expect(blocks.map((b) => /^ {2}([\w-]+):/m.exec(b)?.[1])).toEqual(["pg-app", "etcd-1", "cfy-1"]);
  });

  it.each(blocks.map((b, i) => [i + 1, b] as const))("example %i loads as a config (with storage.encryption set)", (_n, block) => {
    const yaml = `storage: { path: ./snaps, encryption: { recipients: [${RECIPIENT}] } }\n${block}`;
    const parsed = parseFile("/etc/snapbot.yml", yaml);
    const [server] = Object.values(parsed.servers);
    expect(server).toMatchObject({ driver: "command" });
  });
});

describe("the clean rule", () => {
  const runner = createLocalRunner();
  const ctx = (printf: string): CommandContextDeps =>
    ({ runner, settings: { name: "app-1", clean: [["printf", printf]] } }) as unknown as CommandContextDeps;
  it.each([["", "clean"], ["0\n", "clean"], ["[]\n", "clean"], ["[ ]", "clean"], ["12\n", "dirty"], ['[{"id": "bp"}]', "dirty"]])(
    "%j printed: %s",
    async (printed, state) => {
      expect((await checkClean(ctx(printed), {}, new AbortController().signal)).state).toBe(state);
    },
  );
});
