import { describe, expect, it } from "vitest";
import { EventEmitter } from "node:events";
import type { CopyRow } from "../../db/types.ts";
import { copiesReply, targetPlanLines, withCopies } from "../../src/replies/copy-replies.ts";
import { blockKit } from "../../src/chat/slack/block-kit.ts";
import { renderText } from "../../src/chat/console/render-text.ts";
import type { Reply } from "../../src/reply.ts";
import type { StartedCopy } from "../../src/engine/copies/auto-copies.ts";
import { T, snap } from "../helpers/rows.ts";

// The replies about copies (src/replies/copy-replies.ts), pure and pinned: `copies`, and a create's message that
// goes on to tell its copies.

const copy = (over: Partial<CopyRow> = {}): CopyRow => ({
  id: 1, snapshot_id: 1, server_id: 1, server: "demo", name: "s1", target: "offsite", state: "done", location: "/mnt/offsite/demo/s1",
  size: 1536, checksum: `sha256:${"ab".repeat(32)}`, parts: 1, error: null, operation_id: 2, created_by: "U1", created_at: T - 120_000,
  snapshot_created_at: T - 3_600_000, finished_at: T - 60_000, verified_at: T - 60_000, deleted_at: null, deleted_by: null, ...over,
});

describe("copies <server>/<snap>", () => {
  it("one row per target (the live copy over older attempts), in the console and in Block Kit", () => {
    const rows = [copy({ id: 3, target: "nas", state: "broken", error: "part-000000 is corrupt" }), copy({ id: 2 }), copy({ id: 1, state: "failed", error: "the target is full" })];
    const r = copiesReply(snap(1), rows, T, ["nas", "offsite"]);
    expect(r).toMatchObject({ tone: "error", title: "demo/s1: 2 copy(ies) on storage targets" });
    expect(r.lines).toEqual(["local: done, last verified 60s ago", "nas: part-000000 is corrupt"]);
    expect(r.table!.rows).toEqual([
      ["nas", "broken", "1.50 KiB", "2026-11-22 02:59:00Z (60s ago)", "60s ago", "/mnt/offsite/demo/s1"],
      ["offsite", "done", "1.50 KiB", "2026-11-22 02:59:00Z (60s ago)", "60s ago", "/mnt/offsite/demo/s1"],
    ]);
    expect(r.buttons!.map((b) => b.command)).toEqual(["verify demo/s1 --from nas", "verify demo/s1 --from offsite"]);
    expect(renderText(r, 4)).toContain("offsite  done    1.50 KiB");
    const blocks = JSON.stringify(blockKit(r).blocks);
    expect(blocks).toContain("demo/s1: 2 copy(ies) on storage targets");
    expect(blocks).toMatch(/```target +state +size/);
  });

  it("a snapshot deleted locally offers the restore from its copy; none yet says how to make one", () => {
    const gone = snap(1, { state: "deleted", deleted_at: T - 30_000, deleted_by: "U2" });
    const r = copiesReply(gone, [copy()], T, ["offsite"]);
    expect(r.lines![0]).toBe("local: deleted 30s ago by U2; its copies stay until each target's own keep removes them");
    expect(r.buttons).toContainEqual({ label: "Restore from offsite", command: "restore demo/s1 --from offsite" });
    expect(copiesReply(snap(1), [], T, ["offsite"]).lines).toEqual(["local: done, last verified 60s ago", "copy it with copy demo/s1 <target> (targets: offsite)"]);
    expect(copiesReply(snap(1), [], T, []).lines![1]).toMatch(/^no storage.targets are configured/);
  });

  it("prune --dry-run says what each target's keep would remove, by name", () => {
    const plan = { keep: [{ id: 2, name: "s2", reasons: ["last"] }], remove: [{ id: 1, name: "s1", why: "not kept by last=1" }], protect: [] };
    expect(targetPlanLines([{ target: "offsite", keep: "last=1", plan }])).toEqual([
      "on offsite (last=1): would remove 1 copy(ies), keep 1",
      "  remove the copy of s1 on offsite: not kept by last=1",
    ]);
  });
});

describe("a create followed by its copies", () => {
  it("keeps the create's result and adds each copy's progress, then how it ended, with a retry for a failure", async () => {
    const final: Reply = { visibility: "channel", tone: "success", title: "demo/s1 done: 1.50 KiB in 1s (operation #1, asked by U1)", lines: ["checksum …"] };
    const created: Reply = { visibility: "channel", tone: "progress", title: "create demo/s1", follow: { subscribe: () => {}, done: Promise.resolve(final) } };
    const job = (outcome: Promise<CopyRow>) => Object.assign(new EventEmitter(), { done: outcome });
    const good = job(new Promise((res) => setTimeout(() => res(copy()), 20)));
    const bad = job(Promise.reject(Object.assign(new Error("x"), { code: "target_full" })));
    bad.done.catch(() => undefined);
    const started = [
      { target: "offsite", handle: { op: { id: 2 }, job: good } },
      { target: "nas", handle: { op: { id: 3 }, job: bad } },
      { target: "tape", refused: "no storage target \"tape\"" },
    ] as unknown as StartedCopy[];
    const r = withCopies(created, "demo/s1", Promise.resolve(started));
    const seen: Reply[] = [];
    r.follow!.subscribe((u) => seen.push(u));
    setTimeout(() => good.emit("progress", { stage: "copying", bytes: 512, totalBytes: 1536 }), 5);
    const last = await r.follow!.done;
    expect(last.title).toBe(final.title);
    expect(last.tone).toBe("success");
    expect(last.lines).toEqual([
      "checksum …",
      "copied to offsite and read back: 1.50 KiB in 1 part(s), every part's SHA-256 matches (/mnt/offsite/demo/s1) (operation #2)",
      "✖ copy to nas (operation #3) failed: internal error: x",
      '✖ copy to tape did not start: no storage target "tape"',
    ]);
    expect(last.buttons).toEqual([{ label: "Copy to nas", command: "copy demo/s1 nas" }, { label: "Copy to tape", command: "copy demo/s1 tape" }]);
    expect(seen.some((u) => u.tone === "progress" && u.lines![0] === "copy to offsite (operation #2): copying… 33% (512 B of 1.50 KiB)")).toBe(true);
    expect(seen.at(-1)).toEqual(last);
  });

  it("a create that failed, or a server without copies:, is the create's own reply unchanged", async () => {
    const failed: Reply = { visibility: "channel", tone: "error", title: "create demo/s1 failed" };
    const created: Reply = { visibility: "channel", tone: "progress", title: "create demo/s1", follow: { subscribe: () => {}, done: Promise.resolve(failed) } };
    expect(await withCopies(created, "demo/s1", Promise.resolve([])).follow!.done).toBe(failed);
  });
});
