import { describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { alive, waitFor } from "../../helpers/process-tree.ts";
import type { Reply } from "../../../src/reply.ts";
import type { App } from "../../../src/app.ts";
import { fakeClock } from "../../../src/clock.ts";

// Hooks around every create (issue 13 item 3), through the real command layer, the real archive driver and
// a real ledger. The hook programs are real executables written here (sh scripts: the test's own programs;
// snapbot runs each as one argv, never through a shell).

const dir = tempDir("snapbot-hooks-");
const src = join(dir, "src");
mkdirSync(src);
writeFileSync(join(src, "a.txt"), "alpha\n");

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

// `note.sh <tag> <path> <arg>…` appends whether <path> exists, the tag and each arg in brackets (so one argv
// element stays visibly one) to LOG.
const LOG = join(dir, "log");
const note = script("note.sh", `tag="$1"; seen=absent; [ -e "$2" ] && seen=present; shift 2; printf '%s [%s]' "$seen" "$tag" >> "${LOG}"; printf ' [%s]' "$@" >> "${LOG}"; echo >> "${LOG}"`);
const fail = script("fail.sh", `i=0; while [ $i -lt 30 ]; do echo "warning line $i" >&2; i=$((i+1)); done; echo "cannot freeze /srv: device busy" >&2; exit 3`);
const noisy = script("noisy.sh", `head -c 3000000 /dev/zero | tr '\\0' 'x' >&2; echo >&2; echo "the last word" >&2; exit 1`);
// Starts a child in its own process group's tree and waits: killed at the timeout, the child must go too.
const hang = script("hang.sh", `sleep 300 & echo $! > "$1"; wait`);

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${r.lines?.join(" ")}`);
  return r.follow.done;
};
const logLines = (): string[] => (existsSync(LOG) ? readFileSync(LOG, "utf8").trim().split("\n") : []);
const snapOf = async (app: App, server: string, name: string) => app.ledger.snapshots.find((await app.ledger.servers.get(server))!.id, name);
const openHookAlerts = async (app: App, server: string) => (await app.ledger.alerts.listOpen()).filter((a) => a.kind === "hook_failed" && a.key.startsWith(`hook_failed:${server}:`));

describe("hooks around create", () => {
  it("runs global pre, server pre, the create, server post, global post, with {server} and {name} inside single elements", async () => {
    writeFileSync(LOG, "");
    const where = join(dir, "order/snaps/s1/n1/manifest.json");
    const { app, run } = await testApp(join(dir, "order"), {
      storage: { path: "snaps" },
      hooks: { pre: [[note, "global-pre", where, "{server}"]], post: [[note, "global-post", where, "label={server} {name}; rm -rf /"]] },
      servers: {
        s1: {
          driver: "archive",
          paths: [src],
          hooks: { pre: [[note, "server-pre", where, "{name}"]], post: [[note, "server-post", where, "--as={server}/{name}"]] },
        },
      },
    });
    const final = await finalOf(await run("create s1 n1"));
    expect(final.tone).toBe("success");
    expect(logLines()).toEqual([
      "absent [global-pre] [s1]",
      "absent [server-pre] [n1]",
      "present [server-post] [--as=s1/n1]",
      "present [global-post] [label=s1 n1; rm -rf /]",
    ]);
    // The reply, the snapshot and the audit log say which hooks ran and how long.
    const hooksLine = final.lines!.find((l) => l.startsWith("hooks: "))!;
    expect(hooksLine).toMatch(/^hooks: pre "note\.sh global-pre \/.* s1" ok in \d+m?s; pre "note\.sh server-pre \/.* n1" ok in \d+m?s; post "note\.sh server-post \/.* --as=s1\/n1" ok in \d+m?s; post "note\.sh global-post \/.* label=s1 n1; rm -rf \/" ok in \d+m?s$/);
    expect(await snapOf(app, "s1", "n1")).toMatchObject({ state: "done", details: expect.objectContaining({ hooks: hooksLine }) });
    expect((await app.ledger.operations.get(1))!.result).toContain(`; ${hooksLine}`);
    expect(await openHookAlerts(app, "s1")).toEqual([]);
    await app.close();
  });

  it("a failing pre-hook: nothing taken, the ledger says failed with its stderr tail, hook_failed raised, post-hooks still run", async () => {
    writeFileSync(LOG, "");
    const where = join(dir, "prefail/snaps/s2/n1");
    const fixable = script("fixable.sh", `exec "${fail}"`);
    const { app, run } = await testApp(join(dir, "prefail"), {
      storage: { path: "snaps" },
      hooks: { post: [[note, "global-post", where]] },
      servers: { s2: { driver: "archive", paths: [src], hooks: { pre: [[fixable, "{name}"], [note, "never", where]], post: [[note, "server-post", where]] } } },
    });
    const final = await finalOf(await run("create s2 n1"));
    expect(final.tone).toBe("error");
    expect(final.lines![0]).toMatch(/^pre-hook ".*fixable\.sh n1" failed, so s2\/n1 was not taken: \/.*\/fixable\.sh failed \(exit 3\): warning line \d+/);
    expect(final.lines!.join("\n")).toContain("cannot freeze /srv: device busy");
    const snap = (await snapOf(app, "s2", "n1"))!;
    expect(snap.state).toBe("failed");
    expect(snap.error).toContain("cannot freeze /srv: device busy");
    expect(snap.error).toMatch(/hooks: pre ".*fixable\.sh n1" failed in \d+m?s: .*; post "note\.sh server-post [^"]*" ok in \d+m?s; post "note\.sh global-post [^"]*" ok in \d+m?s/);
    expect(await app.ledger.operations.get(1)).toMatchObject({ state: "failed", error: snap.error });
    expect(existsSync(where)).toBe(false); // the driver was never called
    expect(existsSync(join(dir, "prefail/snaps/s2"))).toBe(false);
    expect(logLines()).toEqual(["absent [server-post] []", "absent [global-post] []"]); // the second pre-hook did not run
    const [alert] = await openHookAlerts(app, "s2");
    expect(alert!.message).toMatch(/^pre-hook ".*fixable\.sh n1" failed: snapshot s2\/n1 not taken \(asked by U1\)\npre ".*" failed in/);
    expect(alert!.message).toContain("cannot freeze /srv: device busy");
    expect((await app.ledger.alerts.listOpen()).filter((a) => a.kind === "snapshot_failed")).toEqual([]); // one cause, one alert
    expect((await run("alerts")).table!.rows).toEqual([[String(alert!.id), "hook_failed", "s2", expect.any(String), expect.any(String), "1", "open", expect.stringMatching(/^pre-hook "fixable\.sh n1" failed/)]]);

    // A second failure is the same alert counted, not a new one; the hook fixed, the next create resolves it.
    await finalOf(await run("create s2 n2"));
    expect(await openHookAlerts(app, "s2")).toMatchObject([{ id: alert!.id, count: 2 }]);
    writeFileSync(fixable, "#!/bin/sh\nexit 0\n");
    expect((await finalOf(await run("create s2 n3"))).tone).toBe("success");
    expect(await openHookAlerts(app, "s2")).toEqual([]);
    expect(await app.ledger.alerts.get(alert!.id)).toMatchObject({ state: "resolved", resolved_why: "s2's hooks ran fine for s2/n3" });
    await app.close();
  });

  it("a hanging pre-hook is killed at its timeout with what it started; nothing is taken", async () => {
    const pidFile = join(dir, "hang.pid");
    const { app, run } = await testApp(join(dir, "hang"), {
      storage: { path: "snaps" },
      servers: { s3: { driver: "archive", paths: [src], hooks: { pre: [[hang, pidFile]], timeout: 0.5 } } },
    });
    const started = Date.now();
    const final = await finalOf(await run("create s3 n1"));
    expect(Date.now() - started).toBeLessThan(20_000); // not the child's 300 s
    expect(final.tone).toBe("error");
    expect(final.lines![0]).toMatch(/^pre-hook ".*hang\.sh .*" failed, so s3\/n1 was not taken: \/.*\/hang\.sh timed out after 0\.5s and was stopped/);
    expect(await snapOf(app, "s3", "n1")).toMatchObject({ state: "failed" });
    expect(existsSync(join(dir, "hang/snaps/s3/n1"))).toBe(false);
    const child = Number(readFileSync(pidFile, "utf8"));
    await waitFor("the hook's child to be killed with its group", () => (alive(child) ? undefined : true), 5000);
    expect(await openHookAlerts(app, "s3")).toHaveLength(1);
    await app.close();
  });

  it("a failing post-hook raises hook_failed but the verified snapshot stays done", async () => {
    const { app, run } = await testApp(join(dir, "postfail"), {
      storage: { path: "snaps" },
      servers: { s4: { driver: "archive", paths: [src], hooks: { post: [[fail, "{name}"]] } } },
    });
    const final = await finalOf(await run("create s4 n1"));
    expect(final.tone).toBe("success");
    expect(final.lines!.find((l) => l.startsWith("hooks: "))).toMatch(/^hooks: post ".*fail\.sh n1" failed in \d+m?s: \/.*\/fail\.sh failed \(exit 3\)/);
    expect(await snapOf(app, "s4", "n1")).toMatchObject({ state: "done", verified_at: expect.any(Number) });
    const [alert] = await openHookAlerts(app, "s4");
    expect(alert!.message).toMatch(/^post-hook ".*fail\.sh n1" failed: snapshot s4\/n1 taken, a post-hook failed/);
    expect(alert!.message).toContain("cannot freeze /srv: device busy");
    await app.close();
  });

  it("post-hooks run after the driver fails and after a create that timed out", async () => {
    writeFileSync(LOG, "");
    const big = join(dir, "big");
    mkdirSync(big);
    for (let i = 0; i < 8; i++) writeFileSync(join(big, `blob-${i}`), randomBytes(4 * 1024 * 1024));
    const gone = join(dir, "gone");
    const { app, run } = await testApp(join(dir, "drvfail"), {
      storage: { path: "snaps" },
      servers: {
        broken: { driver: "archive", paths: [gone], hooks: { post: [[note, "after-failure", gone, "{name}"]] } },
        slow: { driver: "archive", paths: [big], part_size: "1MiB", timeout: 0.05, hooks: { post: [[note, "after-timeout", big, "{name}"]] } },
      },
    });
    const failed = await finalOf(await run("create broken b1"));
    expect(failed.tone).toBe("error");
    expect(await snapOf(app, "broken", "b1")).toMatchObject({ state: "failed", error: expect.stringMatching(/\nhooks: post "note\.sh after-failure [^"]* b1" ok in/) });
    expect((await app.ledger.alerts.listOpen()).map((a) => a.kind)).toEqual(["snapshot_failed"]); // the driver's failure, not a hook's
    expect(await openHookAlerts(app, "broken")).toEqual([]);
    const timedOut = await finalOf(await run("create slow t1"));
    expect(timedOut.lines![0]).toBe("timed out after 50ms: the operation was stopped");
    expect(timedOut.lines!.join("\n")).toMatch(/hooks: post "note\.sh after-timeout [^"]* t1" ok in/);
    expect(await snapOf(app, "slow", "t1")).toMatchObject({ state: "failed" });
    expect(logLines()).toEqual(["absent [after-failure] [b1]", "present [after-timeout] [t1]"]);
    await app.close();
  });

  it("runs the hooks of a scheduled create too, and a failing pre-hook there takes nothing", async () => {
    writeFileSync(LOG, "");
    const t0 = Date.UTC(2026, 0, 1, 0, 0, 30);
    const clock = fakeClock(t0);
    const gate = script("gate.sh", `[ -e "${join(dir, "closed")}" ] && { echo "gate closed" >&2; exit 5; }; exit 0`);
    const { app, run } = await testApp(
      join(dir, "sched"),
      { storage: { path: "snaps" }, servers: { s6: { driver: "archive", paths: [src], hooks: { pre: [[gate]], post: [[note, "sched-post", src, "{name}"]] } } } },
      clock,
    );
    expect((await run('schedule s6 "@hourly"')).tone).toBe("success");
    const tickAt = async (ms: number) => {
      clock.set(ms);
      await app.scheduler.tick(ms);
      await app.scheduler.settle();
      await app.engine.idle();
      await app.scheduler.settle();
    };
    const rows = async () => (await app.ledger.snapshots.list((await app.ledger.servers.get("s6"))!.id, { all: true, limit: 10, offset: 0 })).rows.reverse();
    await tickAt(t0 + 60 * 60_000);
    expect((await rows()).map((r) => [r.origin, r.state])).toEqual([["schedule", "done"]]);
    writeFileSync(join(dir, "closed"), "");
    await tickAt(t0 + 2 * 60 * 60_000);
    expect((await rows()).map((r) => r.state)).toEqual(["done", "failed"]);
    expect((await rows())[1]!.error).toMatch(/^pre-hook "gate\.sh" failed, so s6\/.* was not taken: .*exit 5\): gate closed/);
    expect(logLines().map((l) => l.replace(/\[[^\]]*\]$/, "[name]"))).toEqual(["present [sched-post] [name]", "present [sched-post] [name]"]);
    expect(await openHookAlerts(app, "s6")).toHaveLength(1);
    await app.close();
  });

  it("runs post-hooks after a cancelled create (snapbot stopping)", async () => {
    writeFileSync(LOG, "");
    const pidFile = join(dir, "cancel.pid");
    const { app, run } = await testApp(join(dir, "cancel"), {
      storage: { path: "snaps" },
      servers: { s7: { driver: "archive", paths: [src], hooks: { pre: [[hang, pidFile]], post: [[note, "after-cancel", src, "{name}"]] } } },
    });
    const reply = await run("create s7 c1");
    await waitFor("the pre-hook to start", () => (existsSync(pidFile) && readFileSync(pidFile, "utf8").trim() ? true : undefined));
    await app.cancelAll();
    const final = await finalOf(reply);
    expect(final.lines![0]).toBe("cancelled: snapbot was stopped while it ran");
    expect(final.lines!.join("\n")).toMatch(/hooks: pre "hang\.sh .*" failed in .*; post "note\.sh after-cancel .* c1" ok in/);
    expect(logLines()).toEqual([`present [after-cancel] [c1]`]);
    expect(await snapOf(app, "s7", "c1")).toMatchObject({ state: "failed" });
    expect(existsSync(join(dir, "cancel/snaps/s7/c1"))).toBe(false);
    // The hook did not fail: it was stopped with the create, which is what the alert says.
    expect((await app.ledger.alerts.listOpen()).map((a) => [a.kind, a.message.split("\n")[0]])).toEqual([["snapshot_failed", "snapshot s7/c1 failed (asked by U1)"]]);
    await app.close();
  });

  it("keeps a bounded tail of a hook that prints megabytes on stderr", async () => {
    const { app, run } = await testApp(join(dir, "noisy"), {
      storage: { path: "snaps" },
      servers: { s5: { driver: "archive", paths: [src], hooks: { pre: [[noisy]] } } },
    });
    const final = await finalOf(await run("create s5 n1"));
    expect(final.tone).toBe("error");
    const error = (await snapOf(app, "s5", "n1"))!.error!;
    expect(error).toContain("the last word");
    expect(error.length).toBeLessThan(3000);
    expect((await openHookAlerts(app, "s5"))[0]!.message.length).toBeLessThan(3000);
    await app.close();
  });
});
