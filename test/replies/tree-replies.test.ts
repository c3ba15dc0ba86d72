import { describe, expect, it } from "vitest";
import { snapshotTree, type TreeNode } from "../../src/replies/tree-replies.ts";
import { PAGE_SIZE } from "../../src/replies/snapshot-replies.ts";
import { blockKit, LIMITS, type Block } from "../../src/chat/slack/block-kit.ts";
import { renderText } from "../../src/chat/console/render-text.ts";
import { T } from "../helpers/rows.ts";

const MIN = 60_000;
const node = (id: number, parentId: number | null, over: Partial<TreeNode> = {}): TreeNode => ({
  id, name: `s${id}`, parentId, current: false, state: "done", createdAt: T + id * MIN, origin: "snapbot", ...over,
});
const at = (id: number) => new Date(T + id * MIN).toISOString().replace("T", " ").slice(0, 19) + "Z";
/** A chain s1 → s2 → … → sN, the last one current. */
const chain = (n: number) => Array.from({ length: n }, (_, i) => node(i + 1, i === 0 ? null : i, { current: i === n - 1 }));

describe("list --tree: the snapshot tree as a reply", () => {
  it("draws s1 → {s2, s3} with s3 current, children in creation order, you are here under s3", () => {
    // Given out of order: the drawing orders children by creation, not by input.
    const r = snapshotTree([node(3, 1, { current: true }), node(1, null), node(2, 1)], 1, "vm");
    expect(r.title).toBe("vm: snapshot tree, 1–3 of 3");
    expect(r.buttons).toBeUndefined();
    expect(renderText(r, 1)).toBe(
      [
        "• vm: snapshot tree, 1–3 of 3",
        `  s1  ${at(1)}`,
        `  ├─ s2  ${at(2)}`,
        `  └─ ● s3  ${at(3)}`,
        "     └─ you are here (the current state, a child of s3)",
      ].join("\n"),
    );
  });

  it("keeps the current snapshot's own children above you are here, marks external and states other than done", () => {
    const r = snapshotTree(
      [node(1, null, { current: true }), node(2, 1, { state: "broken" }), node(3, 2, { origin: "external" }), node(4, null, { state: "deleting" })],
      1,
      "vm",
    );
    expect(r.monospace).toEqual([
      `● s1  ${at(1)}`,
      `├─ s2  ${at(2)}  broken`,
      `│  └─ s3  ${at(3)}  external`,
      "└─ you are here (the current state, a child of s1)",
      `s4  ${at(4)}  deleting`,
    ]);
  });

  it("draws a snapshot whose parent was deleted at the root, after older roots", () => {
    // s2's parent (#9) is gone: s2 is a tree of its own; s3 (its child) stays under it.
    const r = snapshotTree([node(1, null), node(2, 9), node(3, 2, { current: true })], 1, "vm");
    expect(r.monospace).toEqual([`s1  ${at(1)}`, `s2  ${at(2)}`, `└─ ● s3  ${at(3)}`, "   └─ you are here (the current state, a child of s3)"]);
  });

  it("draws each snapshot once when bad data has a parent loop", () => {
    const r = snapshotTree([node(1, 2), node(2, 1), node(3, null)], 1, "vm");
    expect(r.monospace).toEqual([`s3  ${at(3)}`, `s1  ${at(1)}`, `└─ s2  ${at(2)}`]);
  });

  it("draws a chain of 5,000 without running out of stack", () => {
    const nodes = chain(5000);
    const last = snapshotTree(nodes, 100, "vm");
    expect(last.monospace).toHaveLength(PAGE_SIZE + 1);
    expect(last.monospace!.at(-2)).toBe(`${"   ".repeat(4998)}└─ ● s5000  ${at(5000)}`);
  });

  it("pages 50 snapshots at a time in drawing order, with Previous/Next and the parent of the first one", () => {
    // s1 with 60 children: page 2 holds s51…s61 (still drawn as s1's children) and you are here.
    const nodes = [node(1, null), ...Array.from({ length: 60 }, (_, i) => node(i + 2, 1, { current: i === 59 }))];
    const p1 = snapshotTree(nodes, 1, "vm");
    expect(p1.title).toBe("vm: snapshot tree, 1–50 of 61 (page 1 of 2)");
    expect(p1.lines).toBeUndefined();
    expect(p1.monospace).toHaveLength(50);
    expect(p1.monospace![49]).toBe(`├─ s50  ${at(50)}`);
    expect(p1.buttons).toEqual([{ label: "Next", command: "list vm --tree --page 2" }]);
    const p2 = snapshotTree(nodes, 2, "vm");
    expect(p2.title).toBe("vm: snapshot tree, 51–61 of 61 (page 2 of 2)");
    expect(p2.lines).toEqual(["continued from page 1: s51 is under s1"]);
    expect(p2.monospace![0]).toBe(`├─ s51  ${at(51)}`);
    expect(p2.monospace!.slice(-2)).toEqual([`└─ ● s61  ${at(61)}`, "   └─ you are here (the current state, a child of s61)"]);
    expect(p2.buttons).toEqual([{ label: "Previous", command: "list vm --tree --page 1" }]);
    expect(() => snapshotTree(nodes, 3, "vm")).toThrow("there are only 2 page(s): try list vm --tree");
  });

  it("answers an empty server as list does", () => {
    expect(snapshotTree([], 1, "vm")).toMatchObject({ title: "vm has no snapshots yet", lines: ["Take one with: create vm"] });
  });
});

/** Every text a block holds. */
const texts = (b: Block): string[] => (b.type === "section" ? [...(b.text ? [b.text.text] : []), ...(b.fields ?? []).map((f) => f.text)] : []);

describe("list --tree in Block Kit", () => {
  it("renders the small tree as one code block under the title", () => {
    const { blocks } = blockKit(snapshotTree([node(1, null), node(2, 1), node(3, 1, { current: true })], 1, "vm"));
    expect(blocks).toEqual([
      { type: "section", text: { type: "mrkdwn", text: "*vm: snapshot tree, 1–3 of 3*" } },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          text: "```" + [`s1  ${at(1)}`, `├─ s2  ${at(2)}`, `└─ ● s3  ${at(3)}`, "   └─ you are here (the current state, a child of s3)"].join("\n") + "```",
        },
      },
    ]);
  });

  it("keeps a 50-deep chain within Slack's limits (≤ 50 blocks, ≤ 3000 characters a text) with every line shown", () => {
    const long = chain(50).map((n) => ({ ...n, name: `${n.name}-${"x".repeat(55)}` })); // long names, as names may be
    const r = snapshotTree(long, 1, "vm");
    const { blocks } = blockKit(r);
    expect(blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    for (const b of blocks) for (const t of texts(b)) expect(t.length).toBeLessThanOrEqual(LIMITS.text);
    const drawn = blocks.slice(1).flatMap((b) => texts(b)).map((t) => t.replace(/^```|```$/g, "")).join("\n").split("\n");
    expect(blocks.length).toBeGreaterThan(2); // more than one section's worth: it was split, not cut
    expect(drawn).toEqual(r.monospace);
    expect(drawn.at(-1)).toBe(`${"   ".repeat(49)}└─ you are here (the current state, a child of s50-${"x".repeat(55)})`);
  });
});
