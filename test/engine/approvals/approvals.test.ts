import { describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync, openSync, writeSync, closeSync, existsSync } from "node:fs";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { fakeClock } from "../../../src/clock.ts";
import type { Reply } from "../../../src/reply.ts";
import { formatBytes } from "../../../src/duration.ts";
import { fakeTreeBackend, fakeTreeDriverModule } from "../../helpers/fake-tree-driver.ts";

const root = tempDir("snapbot-approvals-");
let n = 0;
const roles = { admins: ["U0ADMIN"], approvers: ["U0ALICE", "U0BOB"], operators: ["*"] };

async function setup(clock = fakeClock(Date.now())) {
  const dir = join(root, `a${++n}`);
  const src = join(dir, "site");
  mkdirSync(join(src, "conf"), { recursive: true });
  writeFileSync(join(src, "conf/app.conf"), "version = 1\n");
  writeFileSync(join(src, "index.html"), "<h1>v1</h1>\n");
  const chat = recordingChat();
  const t = await testApp(dir, { roles, alerts: { channel: "C0ALERTS" }, storage: { path: "snaps" }, servers: { web: { driver: "archive", paths: [src] } } }, clock, chat.port);
  return { ...t, dir, src, chat, clock };
}
/** A server whose driver keeps a snapshot tree (an in-memory hypervisor, as libvirt keeps it). */
async function treeSetup(clock = fakeClock(Date.now())) {
  const dir = join(root, `t${++n}`);
  const backend = fakeTreeBackend();
  const t = await testApp(dir, { roles, storage: { path: "snaps" }, servers: { vm: { driver: "faketree" } } }, clock, recordingChat().port, {
    drivers: [fakeTreeDriverModule(backend)],
  });
  return { ...t, backend, clock };
}
const done = (r: Reply) => r.follow!.done;
const VERIFIED = "every part is verified again before anything is written: a broken snapshot is never restored";
const KEPT = "(files in the snapshot are overwritten; newer files are kept)";
/** The uncompressed size a snapshot's manifest recorded, as the replies print it. */
const unpacked = (dir: string, server: string, snap: string) =>
  formatBytes(JSON.parse(readFileSync(join(dir, "snaps", server, snap, "manifest.json"), "utf8")).uncompressed_size as number);
const approvalId = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons![0]!.command)![1]);

describe("restore through the approval flow (archive driver, real files)", () => {
  it("restores a changed file after another person approves, and records who approved", async () => {
    const { app, run, src, dir } = await setup();
    expect((await done(await run("create web s1", "U0OP"))).tone).toBe("success");
    writeFileSync(join(src, "conf/app.conf"), "version = 2 (broken by an upgrade)\n");
    const request = await run("restore web/s1", "U0OP");
    expect(request).toMatchObject({ visibility: "channel", title: expect.stringMatching(/^Approval needed: restore web\/s1 \(asked by U0OP, approval #1\)/) });
    const writes = `${src} on web: ${unpacked(dir, "web", "s1")} ${KEPT}`;
    expect(request.fields).toContainEqual(["will change", writes]);
    expect(request.lines).toEqual([VERIFIED, "An approver other than the requester decides."]);
    expect(readFileSync(join(src, "conf/app.conf"), "utf8")).toContain("version = 2"); // nothing happens before approval
    const decision = await run(`approve ${approvalId(request)}`, "U0ALICE");
    expect(decision.replaces).toBe(true);
    const final = await done(decision);
    expect(final).toMatchObject({ tone: "success", title: expect.stringMatching(/^restore web\/s1 done in .* approved by U0ALICE\)$/), lines: [`restored ${writes}`] });
    expect(readFileSync(join(src, "conf/app.conf"), "utf8")).toBe("version = 1\n");
    expect(await app.ledger.operations.get(2)).toMatchObject({ kind: "restore", state: "succeeded", requested_by: "U0OP", approved_by: "U0ALICE" });
    await app.close();
  });

  it("refuses the requester, non-approvers and a second decision, and changes nothing for them", async () => {
    const { app, run } = await setup();
    await done(await run("create web s1", "U0ALICE"));
    const id = approvalId(await run("restore web/s1", "U0ALICE"));
    expect(await run(`approve ${id}`, "U0ALICE")).toMatchObject({ tone: "error", title: "you asked for this, so you cannot approve it: another approver must (roles.approvers)" });
    expect(await run(`approve ${id}`, "U0OP")).toMatchObject({ tone: "error", title: expect.stringMatching(/^approve is for approvers only, and U0OP is not one/) });
    expect((await app.ledger.approvals.get(id))!.state).toBe("pending");
    const first = await run(`deny ${id}`, "U0BOB");
    expect(first).toMatchObject({ replaces: true, title: `restore web/s1 denied by U0BOB (asked by U0ALICE, approval #${id})` });
    expect(await run(`approve ${id}`, "U0ADMIN")).toMatchObject({ tone: "error", title: expect.stringMatching(new RegExp(`^approval #${id} was already denied by U0BOB at `)) });
    expect(await app.ledger.operations.get(2)).toMatchObject({ state: "denied", approved_by: "U0BOB" });
    await app.close();
  });

  it("gives exactly one decision and one restore when two approvers click at once, or one clicks twice", async () => {
    const { app, run } = await setup();
    await done(await run("create web s1", "U0OP"));
    const id = approvalId(await run("restore web/s1", "U0OP"));
    const clicks = await Promise.all([run(`approve ${id}`, "U0ALICE"), run(`approve ${id}`, "U0BOB"), run(`approve ${id}`, "U0ALICE"), run(`deny ${id}`, "U0BOB")]);
    const winners = clicks.filter((r) => r.replaces);
    expect(winners).toHaveLength(1);
    expect(clicks.filter((r) => r.tone === "error")).toHaveLength(3);
    await done(winners[0]!);
    await app.engine.idle();
    expect((await app.ledger.operations.list({ limit: 10 })).filter((o) => o.kind === "restore").map((o) => o.state)).toEqual(["succeeded"]);
    await app.close();
  });

  it("expires an undecided request after approval.ttl and updates its message", async () => {
    const clock = fakeClock(Date.now());
    const { app, run, chat } = await setup(clock);
    await done(await run("create web s1", "U0OP"));
    const request = await run("restore web/s1", "U0OP");
    await request.onPosted!({ channel: "C0WEB", ts: "99.1" }); // as the adapter does once it has posted it
    clock.advance(29 * 60_000);
    expect(await app.engine.approvals.expire()).toBe(0);
    clock.advance(60_001);
    expect(await app.engine.approvals.expire()).toBe(1);
    const update = chat.calls.find((c) => c.kind === "update" && c.ts === "99.1")!;
    expect(update.reply.title).toBe("Approval request expired: restore web/s1 (asked by U0OP, approval #1)");
    expect(update.reply.lines).toEqual(["Nobody decided within 30M; nothing was changed. Ask again with: restore web/s1"]);
    expect((await app.ledger.operations.get(2))!.state).toBe("expired");
    expect(await run("approve 1", "U0ALICE")).toMatchObject({ tone: "error", title: expect.stringMatching(/^approval #1 expired at /) });
    await app.close();
  });

  it("never restores a snapshot that broke after the request: it is marked broken and an alert is posted", async () => {
    const { app, run, dir, src, chat } = await setup();
    await done(await run("create web s1", "U0OP"));
    writeFileSync(join(src, "index.html"), "<h1>v2</h1>\n");
    const id = approvalId(await run("restore web/s1", "U0OP"));
    const fd = openSync(join(dir, "snaps/web/s1/.parts/part-000000"), "r+");
    writeSync(fd, Buffer.from("XXXX"), 0, 4, 10);
    closeSync(fd);
    const final = await done(await run(`approve ${id}`, "U0BOB"));
    expect(final).toMatchObject({ tone: "error", lines: [expect.stringMatching(/^web\/s1 is broken and will not be restored: /)] });
    expect(readFileSync(join(src, "index.html"), "utf8")).toBe("<h1>v2</h1>\n"); // untouched
    expect((await app.ledger.snapshots.get(1))!.state).toBe("broken");
    await new Promise((r) => setTimeout(r, 20));
    expect(chat.calls.find((c) => c.channel === "C0ALERTS")?.reply.title).toBe("snapshot_broken: web/s1 is broken: a restore from it was refused");
    expect(await run("restore web/s1", "U0OP")).toMatchObject({ tone: "error", title: expect.stringMatching(/^web\/s1 is broken: it will never be used to restore/) });
    await app.close();
  });

  it("answers --dry-run without recording anything", async () => {
    const { app, run, src, dir } = await setup();
    await done(await run("create web s1", "U0OP"));
    const r = await run("restore web/s1 --dry-run --target /srv/restore", "U0OP");
    const size = unpacked(dir, "web", "s1");
    expect(r).toMatchObject({
      visibility: "ephemeral",
      title: expect.stringMatching(/^Dry run: restore web\/s1/),
      lines: [`would write /srv/restore${src} on web: ${size} extracted under /srv/restore ${KEPT}`, VERIFIED, "it would need an approver other than you", "Nothing was changed."],
    });
    expect(await app.ledger.operations.list({ limit: 10 })).toHaveLength(1);
    expect(await run("restore web/s1 --target relative/dir", "U0OP")).toMatchObject({ tone: "error", title: "--target must be an absolute folder, e.g. --target /srv/restore" });
    await app.close();
  });
});

describe("restore: the dry run, the approval request and the result say the same, exactly", () => {
  it("--target /: all three say it writes over the root of the server, the snapshot's own places", async () => {
    const { app, run, src, dir } = await setup();
    await done(await run("create web s1", "U0OP"));
    writeFileSync(join(src, "index.html"), "<h1>v2</h1>\n");
    const writes = `${src} on web: ${unpacked(dir, "web", "s1")} ${KEPT}`;
    const root = "--target / writes over the root of the server web: the same places as a restore without --target";
    const dry = await run("restore web/s1 --target / --dry-run", "U0OP");
    expect(dry.lines).toEqual([`would write ${writes}`, VERIFIED, root, "it would need an approver other than you", "Nothing was changed."]);
    const request = await run("restore web/s1 --target /", "U0OP");
    expect(request.fields).toContainEqual(["will change", writes]);
    expect(request.lines).toEqual([VERIFIED, root, "An approver other than the requester decides."]);
    expect((await done(await run(`approve ${approvalId(request)}`, "U0BOB"))).lines).toEqual([`restored ${writes}`]);
    expect(readFileSync(join(src, "index.html"), "utf8")).toBe("<h1>v1</h1>\n");
    await app.close();
  });

  it("a 32 MiB raw device: 32.0 MiB to write (its few stored KiB beside it), the device named, and written back", async () => {
    const dir = join(root, `raw${++n}`);
    mkdirSync(dir, { recursive: true });
    const device = join(dir, "disk.img");
    const image = Buffer.concat([Buffer.alloc(4096, 0xab), Buffer.alloc(32 * 1024 * 1024 - 4096)]);
    writeFileSync(device, image);
    const { app, run } = await testApp(dir, { roles, storage: { path: "snaps" }, servers: { disk: { driver: "archive", mode: "raw", device, part_size: "1MiB" } } }, fakeClock(Date.now()), recordingChat().port);
    await done(await run("create disk s1", "U0OP"));
    const stored = (await app.ledger.snapshots.find((await app.ledger.servers.get("disk"))!.id, "s1"))!.size!;
    expect(stored).toBeLessThan(64 * 1024);
    const writes = `the device ${device} on disk: 32.0 MiB (the whole device is overwritten)`;
    const dry = await run("restore disk/s1 --dry-run", "U0OP");
    expect(dry.lines).toEqual([`would write ${writes}`, VERIFIED, "it would need an approver other than you", "Nothing was changed."]);
    const request = await run("restore disk/s1", "U0OP");
    expect(request.fields).toContainEqual(["will change", writes]);
    expect(request.fields).toContainEqual(["size", `32.0 MiB (${formatBytes(stored)} stored)`]);
    writeFileSync(device, Buffer.alloc(image.length, 1));
    expect((await done(await run(`approve ${approvalId(request)}`, "U0ALICE"))).lines).toEqual([`restored ${writes}`]);
    expect(readFileSync(device).equals(image)).toBe(true);
    await app.close();
  });

  it("refuses --force where the driver checks no cleanness (today's drivers), recording nothing", async () => {
    const { app, run } = await setup();
    await done(await run("create web s1", "U0OP"));
    for (const cmd of ["restore web/s1 --force", "restore web/s1 --force --dry-run"])
      expect(await run(cmd, "U0OP")).toMatchObject({
        tone: "error",
        title: "--force is for application-state restores onto a target that is not clean; web (archive) does not need it: drop --force",
      });
    expect(await app.ledger.operations.list({ limit: 10 })).toHaveLength(1);
    await app.close();
  });
});

describe("delete --subtree through the approval flow (a server with a snapshot tree)", () => {
  it("deletes a snapshot and everything below it, children first, after approval", async () => {
    const { app, run, backend } = await treeSetup();
    for (const s of ["other", "root", "child", "grandchild"]) await done(await run(`create vm ${s}`, "U0OP")); // a chain: each under the last
    expect((await run("delete vm/root --subtree --dry-run", "U0OP")).lines![0]).toBe("would delete 3 snapshot(s) of vm, leaves first: grandchild, child, root");
    const id = approvalId(await run("delete vm/root --subtree", "U0OP"));
    const final = await done(await run(`approve ${id}`, "U0ALICE"));
    expect(final.lines).toEqual(["deleted 3 snapshot(s), leaves first: grandchild, child, root"]);
    expect(backend.deletions).toEqual(["vm/grandchild", "vm/child", "vm/root"]);
    expect([...backend.vm("vm").snaps.keys()]).toEqual(["other"]);
    const vm = (await app.ledger.servers.get("vm"))!;
    expect((await app.ledger.snapshots.list(vm.id, { limit: 10, offset: 0 })).rows.map((s) => s.name)).toEqual(["other"]);
    await app.close();
  });
});

describe("alerts", () => {
  it("posts snapshot_failed to the alerts channel with a Retry button, and counts a repeat instead of re-posting", async () => {
    const { app, run, chat, src } = await setup();
    const gone = join(src, "..", "gone");
    await app.ledger.servers.register({ name: "flaky", driver: "archive", settings: { mode: "tar", paths: [gone], exclude: [], host: "local", compression: "auto", limit: 50 } }, "U0ADMIN");
    await done(await run("create flaky s1", "U0OP"));
    await new Promise((r) => setTimeout(r, 20));
    const posts = chat.calls.filter((c) => c.kind === "post" && c.channel === "C0ALERTS");
    expect(posts).toHaveLength(1);
    expect(posts[0]!.reply).toMatchObject({ title: "snapshot_failed: snapshot flaky/s1 failed (asked by U0OP)", buttons: [{ label: "Retry", command: "create flaky s1" }] });
    expect(posts[0]!.reply.lines![0]).toMatch(/does not exist/);
    await done(await run("create flaky s1", "U0OP"));
    await new Promise((r) => setTimeout(r, 20));
    expect(chat.calls.filter((c) => c.kind === "post" && c.channel === "C0ALERTS")).toHaveLength(1);
    const update = chat.calls.find((c) => c.kind === "update" && c.ts === posts[0]!.ts)!;
    expect(update.reply.lines).toContain("seen 2 times");
    expect(await app.ledger.alerts.listOpen()).toMatchObject([{ kind: "snapshot_failed", key: "snapshot_failed:flaky:s1", count: 2 }]);
    await app.close();
  });
});

describe("pending approvals: the approvals list, and delete waits for them", () => {
  it("refuses to delete a snapshot a pending restore names, saying which approval to deny; allowed once it is denied", async () => {
    const { app, run } = await setup();
    await done(await run("create web s1", "U0OP"));
    const id = approvalId(await run("restore web/s1", "U0OP"));
    const refused = await run("delete web/s1", "U0OP");
    expect(refused).toMatchObject({ tone: "error", title: expect.stringMatching(new RegExp(`^web/s1 is waiting on approval #${id} \\(restore web/s1, asked by U0OP\\): deny ${id} first, or wait until it expires at `)) });
    expect((await run("delete web/s1 --dry-run", "U0OP")).tone).toBe("error");
    expect((await app.ledger.snapshots.get(1))!.state).toBe("done");
    expect((await app.ledger.operations.list({ limit: 10 })).filter((o) => o.kind === "delete")).toHaveLength(0);
    await run(`deny ${id}`, "U0BOB");
    const deleted = await done(await run("delete web/s1", "U0OP"));
    expect(deleted.tone).toBe("success");
    expect((await app.ledger.snapshots.get(1))!.state).toBe("deleted");
    await app.close();
  });

  it("refuses delete --subtree when a snapshot below names a pending request, and allows a delete once the request expired", async () => {
    const clock = fakeClock(Date.now());
    const { app, run } = await treeSetup(clock);
    for (const s of ["root", "child"]) await done(await run(`create vm ${s}`, "U0OP")); // child is under root
    const id = approvalId(await run("restore vm/child", "U0OP"));
    expect(await run("delete vm/root --subtree", "U0OP")).toMatchObject({ tone: "error", title: expect.stringMatching(new RegExp(`^vm/child is waiting on approval #${id} .*deny ${id} first`)) });
    expect((await app.ledger.approvals.pending()).map((a) => a.id)).toEqual([id]); // no second request was recorded
    clock.advance(30 * 60_000 + 1); // past approval.ttl; the sweep that marks it expired has not run yet
    expect((await done(await run("delete vm/child", "U0OP"))).tone).toBe("success");
    await app.close();
  });

  it("lists the pending requests (id, what, who, when asked, expiry), and says when there are none", async () => {
    const clock = fakeClock(Date.UTC(2026, 2, 1, 12, 0, 0));
    const { app, run } = await setup(clock);
    expect(await run("approvals", "U0OP")).toMatchObject({ tone: "info", title: "No pending approvals" });
    for (const s of ["s1", "s2"]) await done(await run(`create web ${s}`, "U0OP"));
    const restore = approvalId(await run("restore web/s1", "U0OP"));
    clock.advance(60_000);
    const denied = approvalId(await run("restore web/s2", "U0ALICE"));
    await run(`deny ${denied}`, "U0BOB");
    const list = await run("approvals", "U0OP");
    expect(list.title).toBe("1 pending approval(s)");
    expect(list.table).toEqual({
      columns: ["id", "what", "asked by", "asked", "expires"],
      rows: [[String(restore), "restore web/s1", "U0OP", "2026-03-01 12:00:00Z (60s ago)", "2026-03-01 12:30:00Z (in 29m)"]],
    });
    expect(list.lines).toEqual(["Decide with approve <id> or deny <id> (approvers; never your own request)."]);
    await app.close();
  });

  it("says what an approval id is when approve or deny gets something else, and lists approve, deny and approvals in help", async () => {
    const { app, run } = await setup();
    for (const cmd of ["approve abc", "approve 0", "deny -3"])
      expect(await run(cmd, "U0ALICE")).toMatchObject({ tone: "error", title: `${cmd.split(" ")[0]} takes an approval id, a whole number like 12: type approvals to see them` });
    expect(await run("approve 12", "U0ALICE")).toMatchObject({ tone: "error", title: "there is no approval #12" });
    const help = (await run("help", "U0OP")).table!.rows.map((r) => r[0]);
    expect(help).toEqual(expect.arrayContaining(["approvals", "approve <id>", "deny <id>"]));
    expect((await run("help approve", "U0OP")).title).toBe("/snapshot approve <id>");
    await app.close();
  });
});

describe("snapshot_failed resolution and alerts ack (real engine, archive driver)", () => {
  async function flaky() {
    const t = await setup();
    const gone = join(t.src, "..", "gone");
    await t.app.ledger.servers.register({ name: "flaky", driver: "archive", settings: { mode: "tar", paths: [gone], exclude: [], host: "local", compression: "auto", limit: 50 } }, "U0ADMIN");
    return { ...t, gone };
  }

  it("resolves every open snapshot_failed of a server when a later snapshot of it, of another name, succeeds", async () => {
    const { app, run, chat, gone } = await flaky();
    for (const s of ["s1", "s2"]) expect((await done(await run(`create flaky ${s}`, "U0OP"))).tone).toBe("error");
    await done(await run("create web w1", "U0OP")); // another server's success resolves nothing of flaky's
    await app.alerts.flush();
    expect((await app.ledger.alerts.listOpen()).map((a) => a.key).sort()).toEqual(["snapshot_failed:flaky:s1", "snapshot_failed:flaky:s2"]);
    mkdirSync(gone);
    writeFileSync(join(gone, "f"), "x");
    expect((await done(await run("create flaky s3", "U0OP"))).tone).toBe("success");
    await app.alerts.flush();
    expect(await app.ledger.alerts.listOpen()).toEqual([]);
    const why = "a later snapshot succeeded: flaky/s3";
    expect(await app.ledger.alerts.get(1)).toMatchObject({ state: "resolved", resolved_why: why });
    const threadReplies = chat.calls.filter((c) => c.kind === "post" && c.threadTs);
    expect(threadReplies.map((c) => c.reply.title)).toEqual([`✔ resolved: ${why}`, `✔ resolved: ${why}`]); // one under each alert
    expect((await run("alerts", "U0OP")).title).toBe("No open alerts");
    expect((await run("alerts --all", "U0OP")).table!.rows.map((r) => r[6])).toEqual([`resolved 0ms ago: ${why}`, `resolved 0ms ago: ${why}`]); // fake clock
    await app.close();
  });

  it("ack records who and when on the alert, its message and the audit log; it stays open until resolved", async () => {
    const { app, run, chat, gone } = await flaky();
    await done(await run("create flaky s1", "U0OP"));
    await app.alerts.flush();
    const post = chat.calls.find((c) => c.kind === "post" && c.channel === "C0ALERTS")!;
    const id = (await app.ledger.alerts.listOpen())[0]!.id;
    expect(await run(`alerts ack ${id}`, "U0OPS2")).toMatchObject({ tone: "success", title: `alert #${id} (snapshot_failed) acknowledged by U0OPS2` });
    await app.alerts.flush();
    expect(await app.ledger.alerts.get(id)).toMatchObject({ state: "open", acked_by: "U0OPS2", acked_at: expect.any(Number) });
    const update = chat.calls.filter((c) => c.kind === "update" && c.ts === post.ts).at(-1)!;
    expect(update.reply.lines!.at(-1)).toMatch(/^acknowledged by U0OPS2 at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    expect((await run("alerts", "U0OP")).table!.rows[0]![6]).toMatch(/^open, acked by U0OPS2 \d+m?s ago$/);
    const audit = (await run("audit", "U0OP")).table!.rows[0]!;
    expect([audit[2], audit[3], audit[4]]).toEqual(["U0OPS2", "ack flaky/s1", "succeeded"]);
    expect(await run(`alerts ack ${id}`, "U0OP")).toMatchObject({ tone: "error", title: expect.stringMatching(new RegExp(`^alert #${id} was already acknowledged by U0OPS2 at `)) });
    expect(await run("alerts ack abc", "U0OP")).toMatchObject({ tone: "error", title: "alerts ack takes an alert id, a whole number like 12: type alerts to see them" });
    expect(await run("alerts ack 99", "U0OP")).toMatchObject({ tone: "error", title: "there is no alert #99: type alerts to see the open ones" });
    mkdirSync(gone);
    await done(await run("create flaky s2", "U0OP"));
    await app.alerts.flush();
    expect(await run(`alerts ack ${id}`, "U0OP")).toMatchObject({ tone: "error", title: `alert #${id} is already resolved (a later snapshot succeeded: flaky/s2): nothing to acknowledge` });
    expect((await app.ledger.operations.list({ limit: 20 })).filter((o) => o.kind === "ack")).toHaveLength(1);
    await app.close();
  });
});
