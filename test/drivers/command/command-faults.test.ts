import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Reply } from "../../../src/reply.ts";
import { parseFile } from "../../../src/config/load-config.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { processTree, waitFor } from "../../helpers/process-tree.ts";

// The command driver's faults, each one clear line and nothing half-done: a step that exits non-zero (its stderr
// tail in the reply), one that writes nothing (stdout or {file}), one that hangs (killed at timeout, its process
// tree gone), one that prints megabytes on stderr (the reply stays small); an undefined placeholder stops start-up
// naming the key; a clean step that fails is never read as clean. Real processes (sh, sleep, head), no mocks.

const root = tempDir("snapbot-cmd-faults-");
const data = join(root, "data.txt");
const HANG = join(root, "stalled-fifo"); // cat of a FIFO nobody writes: a step that never ends
let t: Awaited<ReturnType<typeof testApp>>;

const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};
const text = (r: Reply) => [r.title, ...(r.lines ?? []), ...(r.fields ?? []).map((f) => f.join(": "))].join("\n");
const stored = (server: string, snap: string) => existsSync(join(root, "snaps", server, snap));
const server = (create: string[][], extra: Record<string, unknown> = {}) => ({ driver: "command", sensitive: false, create, ...extra });

beforeAll(async () => {
  writeFileSync(data, "hello\n");
  execFileSync("mkfifo", [HANG]);
  const file = {
    roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
    storage: { path: "snaps" },
    servers: {
      "exits-3": server([["sh", "-c", "echo 'app: the database is locked' >&2; exit 3"]]),
      "prints-nothing": server([["true"]]),
      "no-file": server([["true", "{file}"]]),
      "hangs": server([["cat", HANG]], { timeout: 2 }),
      "loud": server([["sh", "-c", "head -c 30000000 /dev/zero | tr '\\0' x >&2; echo; echo 'the last line of a loud failure' >&2; exit 1"]]),
      "dirty-check-fails": server([["cat", data]], {
        restore: [["sh", "-c", "cat > /dev/null"]],
        clean: [["sh", "-c", "echo 'cannot connect to the target' >&2; exit 2"]],
      }),
    },
  };
  t = await testApp(root, file);
});
afterAll(() => t?.app.close());

describe("command steps that fail", () => {
  it("a step exiting non-zero: the reply names the step and shows its stderr; nothing is stored", async () => {
    const r = await done(await t.run("create exits-3 s1", "U0OP"));
    expect(r.tone).toBe("error");
    expect(text(r)).toMatch(/create step 1 \(sh -c .*\) failed \(exit 3\): app: the database is locked/);
    expect(stored("exits-3", "s1")).toBe(false);
  });

  it("a last step that prints nothing is an empty snapshot, refused; a {file} never written is a clear failure", async () => {
    const r = await done(await t.run("create prints-nothing s1", "U0OP"));
    expect(text(r)).toMatch(/the stdout of create step 1 is empty: a snapshot must hold something/);
    const f = await done(await t.run("create no-file s1", "U0OP"));
    expect(f.tone).toBe("error");
    expect(text(f)).toMatch(/cat failed \(exit 1\).*No such file/s);
    expect(stored("prints-nothing", "s1") || stored("no-file", "s1")).toBe(false);
  });

  it("a hung step is killed at the server's timeout: a timeout line, no process left", async () => {
    const started = await t.run("create hangs s1", "U0OP");
    await waitFor("the step to run", () => (processTree(HANG).length > 0 ? true : undefined));
    const r = await done(started);
    expect(r.tone).toBe("error");
    expect(text(r)).toMatch(/timed out/);
    await waitFor("the step to be gone", () => (processTree(HANG).length === 0 ? true : undefined));
    expect(stored("hangs", "s1")).toBe(false);
  }, 30_000);

  it("megabytes on stderr: the failure reply holds the tail (its last line), and stays small", async () => {
    const r = await done(await t.run("create loud s1", "U0OP"));
    expect(r.tone).toBe("error");
    expect(text(r)).toContain("the last line of a loud failure");
    expect(text(r).length).toBeLessThan(20_000);
    const row = (await t.app.ledger.snapshots.list((await t.app.ledger.servers.get("loud"))!.id, { all: true, limit: 10, offset: 0 })).rows[0];
    expect(row?.state).toBe("failed");
    expect((row?.error ?? "").length).toBeLessThan(20_000);
  });

  it("a clean step that fails is never read as clean: restore refused with why, --force still possible", async () => {
    expect((await done(await t.run("create dirty-check-fails s1", "U0OP"))).tone).toBe("success");
    const r = await t.run("restore dirty-check-fails/s1", "U0OP");
    expect(text(r)).toMatch(/dirty-check-fails's clean check failed, so it is not known to be clean: clean step 1 .*exit 2.*cannot connect to the target/);
    expect(text(r)).toMatch(/restore dirty-check-fails\/s1 --force/);
    const forced = await t.run("restore dirty-check-fails/s1 --force --dry-run", "U0OP");
    expect(text(forced)).toMatch(/FORCED/);
  });
});

describe("placeholders", () => {
  it("an undefined placeholder stops start-up with the key and what to add", () => {
    const yaml = "servers:\n  pg-app:\n    driver: command\n    sensitive: false\n    create: [[pg_dump, -Fc, '--dbname={db}']]\n";
    expect(() => parseFile("/etc/snapbot.yml", yaml)).toThrow(
      /\/etc\/snapbot\.yml: servers\.pg-app\.create\[0\]\[2\]: \{db\} is not defined: add it under vars/,
    );
  });

  it("a sensitive command server (the default) without recipients stops start-up with one line", () => {
    const yaml = "servers:\n  pg-app:\n    driver: command\n    create: [[pg_dump, -Fc]]\n";
    expect(() => parseFile("/etc/snapbot.yml", yaml)).toThrow("/etc/snapbot.yml: servers.pg-app is sensitive: set storage.encryption.recipients (age1…)");
  });

  it("values are substituted inside one argv element: quotes, spaces and $ stay in that element", async () => {
    const { substituteStep } = await import("../../../src/drivers/command/placeholders.ts");
    expect(substituteStep(["--dbname={db}", "{{literal}}", "{name}.dump", '{"opts":{"db":"{db}"}}'], { db: "a b'$(rm -rf /)\"", name: "s1" })).toEqual([
      "--dbname=a b'$(rm -rf /)\"",
      "{literal}",
      "s1.dump",
      '{"opts":{"db":"a b\'$(rm -rf /)\""}}', // JSON's own braces stay as they are
    ]);
  });
});
