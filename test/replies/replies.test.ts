import { describe, expect, it } from "vitest";
import { snapshotList, snapshotDetail, PAGE_SIZE } from "../../src/replies/snapshot-replies.ts";
import { progressText, failedReply } from "../../src/replies/job-replies.ts";
import { reconcileReply } from "../../src/replies/reconcile-replies.ts";
import { renderText } from "../../src/chat/console/render-text.ts";
import { T, server, snap } from "../helpers/rows.ts";


describe("reply builders (pure, pinned)", () => {
  it("renders a list page with its paging buttons as console text", () => {
    const page = snapshotList(server, [snap(1), snap(2, { state: "broken", verified_at: null })], { page: 2, total: 2 + PAGE_SIZE * 2, command: "list demo" }, T);
    const text = renderText(page, 4);
    expect(text).toBe(
      [
        "• demo: snapshots 51–52 of 102 (page 2 of 3)",
        "  name  state   size      created                         verified  expires  origin",
        "  ----  ------  --------  ------------------------------  --------  -------  -------",
        "  s1    done    1.50 KiB  2026-11-22 02:00:00Z (60m ago)  60s ago   —        snapbot",
        "  s2    broken  1.50 KiB  2026-11-22 02:00:00Z (60m ago)  never     —        snapbot",
        "  [4.1] Previous   [4.2] Next   (type /click <n>)",
      ].join("\n"),
    );
    expect(renderText(page, 7, "full").split("\n").at(-1)).toBe("  [7.1] Previous   [7.2] Next   (type /click 7.<n>)"); // a post: an alert's buttons
    expect(page.buttons).toEqual([{ label: "Previous", command: "list demo --page 1" }, { label: "Next", command: "list demo --page 3" }]);
  });

  it("says how to start when a server has no snapshots", () => {
    expect(snapshotList(server, [], { page: 1, total: 0, command: "list demo" }, T)).toMatchObject({ title: "demo has no snapshots yet", lines: ["Take one with: create demo"] });
  });

  it("shows a broken snapshot's error and offers verify and delete", () => {
    const r = snapshotDetail(snap(3, { state: "broken", error: "part-000000: sha256 mismatch" }), T);
    expect(r.tone).toBe("error");
    expect(r.fields).toContainEqual(["error", "part-000000: sha256 mismatch"]);
    expect(r.buttons?.map((b) => b.command)).toEqual(["verify demo/s3", "delete demo/s3"]);
  });

  it("describes progress with bytes, or a percentage when the total is known", () => {
    expect(progressText({ stage: "archiving", bytes: 5 * 1024 * 1024 })).toBe("archiving… 5.00 MiB");
    expect(progressText({ stage: "verifying", bytes: 512, totalBytes: 2048 })).toBe("verifying… 25% (512 B of 2.00 KiB)");
  });

  it("puts the reason first and the stderr tail after it when something fails, with a Retry button", () => {
    const r = failedReply({ what: "create demo/x", who: "U1", opId: 4, retry: "create demo x" }, "tar failed (exit 2)\ntar: a: Cannot stat\ntar: Exiting with failure status");
    expect(r).toMatchObject({ tone: "error", title: "create demo/x failed (operation #4, asked by U1)", buttons: [{ label: "Retry", command: "create demo x" }] });
    expect(r.lines).toEqual(["tar failed (exit 2)", "tar: a: Cannot stat\ntar: Exiting with failure status"]);
  });

  it("reports nothing after a clean stop, and each settled item after a crash", () => {
    expect(reconcileReply({ operations: [], snapshots: [], copies: [] })).toBeNull();
    const r = reconcileReply({ operations: [{ id: 3, kind: "create", server: "demo", was: "running" }], snapshots: [{ id: 9, ref: "demo/s9", was: "running", now: "broken", reason: "parts without manifest" }], copies: [] })!;
    expect(r.lines).toEqual(["operation #3 create demo was running: now failed", "demo/s9 was running: now broken (parts without manifest)"]);
    const c = reconcileReply({ operations: [], snapshots: [], copies: [{ id: 2, ref: "demo/s9@offsite", was: "running", now: "failed", reason: "interrupted" }] })!;
    expect(c.title).toBe("snapbot restarted after an interruption: 0 operation(s), 1 copy(ies) and 0 snapshot(s) were left unfinished");
    expect(c.lines).toEqual(["the copy demo/s9@offsite was running: now failed (interrupted)"]);
  });
});
