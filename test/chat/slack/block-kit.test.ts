import { describe, expect, it } from "vitest";
import { ACTION_PREFIX, blockKit, LIMITS, type Block } from "../../../src/chat/slack/block-kit.ts";
import { snapshotDetail, snapshotList, PAGE_SIZE } from "../../../src/replies/snapshot-replies.ts";
import { failedReply } from "../../../src/replies/job-replies.ts";
import { errorReply, type Reply } from "../../../src/reply.ts";
import { T, server, snap } from "../../helpers/rows.ts";
import { mention } from "../../../src/replies/mention.ts";
import { renderText } from "../../../src/chat/console/render-text.ts";

const md = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
const button = (text: string, value: string, i: number, style?: string) => ({
  type: "button", text: { type: "plain_text", text, emoji: true }, value, action_id: `snapbot:${i}`, ...(style ? { style } : {}),
});

/** Every text a block holds, to check Slack's per-text limits. */
function texts(b: Block): string[] {
  if (b.type === "section") return [...(b.text ? [b.text.text] : []), ...(b.fields ?? []).map((f) => f.text)];
  if (b.type === "context") return b.elements.map((e) => ("text" in e ? String(e.text) : ""));
  return [];
}
const buttonsOf = (blocks: Block[]) => blocks.flatMap((b) => (b.type === "actions" ? b.elements : [])) as Array<{ text: { text: string }; value: string; action_id: string }>;

describe("Block Kit from a Reply (pure, pinned)", () => {
  it("renders a one-line error as one section, with a plain fallback", () => {
    expect(blockKit(errorReply('unknown command "frobnicate": type help for the list'))).toEqual({
      text: 'unknown command "frobnicate": type help for the list',
      blocks: [md(':x: *unknown command "frobnicate": type help for the list*')],
    });
  });

  it("renders a list page as a monospace table with Previous and Next buttons", () => {
    const page = snapshotList(server, [snap(1), snap(2, { state: "broken", verified_at: null })], { page: 2, total: 2 + PAGE_SIZE * 2, command: "list demo" }, T);
    expect(blockKit(page)).toEqual({
      text: "demo: snapshots 51–52 of 102 (page 2 of 3)",
      blocks: [
        md("*demo: snapshots 51–52 of 102 (page 2 of 3)*"),
        md(
          "```" +
            [
              "name  state   size      created                         verified  expires  origin",
              "----  ------  --------  ------------------------------  --------  -------  -------",
              "s1    done    1.50 KiB  2026-11-22 02:00:00Z (60m ago)  60s ago   —        snapbot",
              "s2    broken  1.50 KiB  2026-11-22 02:00:00Z (60m ago)  never     —        snapbot",
            ].join("\n") +
            "```",
        ),
        { type: "actions", elements: [button("Previous", "list demo --page 1", 0), button("Next", "list demo --page 3", 1)] },
      ],
    });
  });

  it("renders a failure with its reason, the stderr tail as code (escaped), and a Retry button", () => {
    const r = failedReply({ what: "create demo/x", who: "U1", opId: 4, retry: "create demo x" }, "tar failed (exit 2)\ntar: /a<b>: Cannot stat\ntar: Exiting with failure status");
    expect(blockKit(r)).toEqual({
      text: "create demo/x failed (operation #4, asked by U1)\ntar failed (exit 2)\ntar: /a&lt;b&gt;: Cannot stat",
      blocks: [
        md(":x: *create demo/x failed (operation #4, asked by U1)*"),
        md("tar failed (exit 2)"),
        md("```tar: /a&lt;b&gt;: Cannot stat\ntar: Exiting with failure status```"),
        { type: "actions", elements: [button("Retry", "create demo x", 0)] },
      ],
    });
  });

  it("renders fields ten to a section, escaped, and keeps a button's style", () => {
    const { blocks } = blockKit(snapshotDetail(snap(3, { note: "before <upgrade> & co" }), T));
    expect(blocks).toHaveLength(4);
    expect(blocks[0]).toEqual(md("*demo/s3*"));
    const [first, second] = [blocks[1], blocks[2]] as Array<{ fields: Array<{ text: string }> }>;
    expect(first!.fields).toHaveLength(10);
    expect(first!.fields[0]).toEqual({ type: "mrkdwn", text: "*state*\ndone" });
    expect(second!.fields).toEqual([{ type: "mrkdwn", text: "*note*\nbefore &lt;upgrade&gt; &amp; co" }]);
    expect(blocks[3]).toEqual({ type: "actions", elements: [button("Verify", "verify demo/s3", 0), button("Delete", "delete demo/s3", 1, "danger")] });
  });

  it("escapes what Slack would read as markup: links, mentions, entities", () => {
    const { text, blocks } = blockKit({ visibility: "channel", tone: "progress", title: "<!channel> <@U1> & <https://x|y>", lines: ["a < b"] });
    expect(blocks[0]).toEqual(md(":hourglass_flowing_sand: *&lt;!channel&gt; &lt;@U1&gt; &amp; &lt;https://x|y&gt;*"));
    expect(blocks[1]).toEqual(md("a &lt; b"));
    expect(text).toBe("&lt;!channel&gt; &lt;@U1&gt; &amp; &lt;https://x|y&gt;\na &lt; b");
  });

  it("fits a full 50-row list page in one message, without cutting anything", () => {
    const rows = Array.from({ length: PAGE_SIZE }, (_, i) => snap(i, { name: `nightly-2026-11-${String(i).padStart(2, "0")}_02-00-00-with-a-long-name`, note: "n" }));
    const { blocks } = blockKit(snapshotList(server, rows, { page: 1, total: 500, command: "list demo" }, T));
    expect(blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    const table = blocks.filter((b) => texts(b).some((t) => t.startsWith("```")));
    expect(table.length).toBeGreaterThan(1); // cut into code blocks under 3000 characters…
    for (const b of table) expect(texts(b)[0]!.startsWith("```name")).toBe(true); // …each with the header
    const shown = table.flatMap((b) => texts(b)[0]!.split("\n").filter((l) => l.includes("nightly-")));
    expect(shown).toHaveLength(PAGE_SIZE);
    expect(JSON.stringify(blocks)).not.toContain("left out");
  });
});

describe("Block Kit within Slack's limits, whatever the reply", () => {
  const huge: Reply = {
    visibility: "channel",
    tone: "info",
    title: "T".repeat(10_000),
    lines: [...Array.from({ length: 300 }, (_, i) => `line ${i} ${"&".repeat(i % 7 === 0 ? 5000 : 20)}`), "stderr\n".repeat(2000)],
    fields: Array.from({ length: 95 }, (_, i): [string, string] => [`key ${i}`, "<v>".repeat(1500)]),
    table: { columns: ["name", "value"], rows: Array.from({ length: 5000 }, (_, i) => [`row-${i}`, "x".repeat(i % 100 === 0 ? 9000 : 80)]) },
    buttons: [
      ...Array.from({ length: 60 }, (_, i) => ({ label: `Button ${i} ${"L".repeat(100)}`, command: `list demo --page ${i + 1}` })),
      { label: "Too long", command: `create demo ${"n".repeat(2100)}` },
    ],
  };

  it("keeps every count and length limit, and says what it left out", () => {
    const { text, blocks } = blockKit(huge);
    expect(blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
    expect(text.length).toBeLessThanOrEqual(LIMITS.text);
    for (const b of blocks) {
      if (b.type === "section" && b.fields) {
        expect(b.fields.length).toBeLessThanOrEqual(LIMITS.fieldsPerSection);
        for (const f of b.fields) expect(f.text.length).toBeLessThanOrEqual(LIMITS.field);
      }
      for (const t of texts(b)) {
        expect(t.length).toBeLessThanOrEqual(LIMITS.text);
        expect(t).not.toMatch(/&(?!amp;|lt;|gt;)/); // never a cut entity
      }
      if (b.type === "actions") expect(b.elements.length).toBeLessThanOrEqual(LIMITS.buttonsPerBlock);
    }
    const all = JSON.stringify(blocks);
    expect(all).toMatch(/_… (\d+ lines?, )?(\d+ fields?, )?\d+ rows left out: a Slack message holds at most 50 blocks_/);
    expect(all).toContain("1 button(s) left out: their command is longer than Slack allows");
  });

  it("counts the rows it left out exactly", () => {
    const r: Reply = { visibility: "ephemeral", tone: "info", title: "t", table: { columns: ["n"], rows: Array.from({ length: 20_000 }, (_, i) => [`row-${i}-${"y".repeat(200)}`]) } };
    const { blocks } = blockKit(r);
    expect(blocks).toHaveLength(LIMITS.blocks);
    const shown = blocks.flatMap(texts).join("\n").split("\n").filter((l) => l.startsWith("row-") || l.startsWith("```row-")).length;
    const note = /_… (\d+) rows left out/.exec(JSON.stringify(blocks.at(-1)));
    expect(shown + Number(note?.[1])).toBe(20_000);
  });

  it("clips labels to 75, keeps values whole (≤ 2000) and action_ids unique (≤ 255)", () => {
    const buttons = buttonsOf(blockKit(huge).blocks);
    expect(buttons).toHaveLength(60);
    for (const b of buttons) {
      expect(b.text.text.length).toBeLessThanOrEqual(LIMITS.label);
      expect(b.value.length).toBeLessThanOrEqual(LIMITS.value);
      expect(b.action_id.length).toBeLessThanOrEqual(LIMITS.actionId);
      expect(b.action_id.startsWith(ACTION_PREFIX)).toBe(true);
    }
    expect(new Set(buttons.map((b) => b.action_id)).size).toBe(60);
    expect(buttons[59]!.value).toBe("list demo --page 60");
    expect(buttons[0]!.text.text).toMatch(/^Button 0 L+…$/);
  });

  it("never cuts an escaped entity in half", () => {
    const { blocks, text } = blockKit({ visibility: "ephemeral", tone: "error", title: "&".repeat(2000), lines: ["<".repeat(3000)] });
    for (const t of [...blocks.flatMap(texts), text]) {
      expect(t.length).toBeLessThanOrEqual(LIMITS.text);
      expect(t.replace(/&amp;|&lt;|&gt;/g, "")).not.toMatch(/[&<>]/);
    }
  });
});

describe("people named in a reply: Slack mentions, plain ids in the console", () => {
  const who = (u: string) => mention(u);
  const reply: Reply = {
    visibility: "channel",
    tone: "info",
    title: `Approval needed: restore demo/s1 (asked by ${who("U0ALICE")}, approval #1)`,
    lines: [`denied by ${who("W0BOB")}; ${who("console")} and ${who("scheduler")} are not members; typed <@U0EVE> stays text`],
    fields: [["asked by", who("U0ALICE")]],
    table: { columns: ["#", "who", "what"], rows: [["1", who("U0ALICE"), "create demo"], ["2", who("console"), "verify demo/s1"]] },
    buttons: [{ label: `Ask ${who("U0ALICE")}`, command: "approvals" }],
  };

  it("renders a marked member id as <@U…> in the title, lines, fields, table and fallback, and only member ids", () => {
    const { text, blocks } = blockKit(reply);
    expect(blocks[0]).toEqual(md("*Approval needed: restore demo/s1 (asked by <@U0ALICE>, approval #1)*"));
    expect(blocks[1]).toEqual(md("denied by <@W0BOB>; console and scheduler are not members; typed &lt;@U0EVE&gt; stays text"));
    expect(blocks[2]).toEqual({ type: "section", fields: [{ type: "mrkdwn", text: "*asked by*\n<@U0ALICE>" }] });
    expect(texts(blocks[3]!)[0]).toBe("```#  who      what\n-  -------  --------------\n1  <@U0ALICE>  create demo\n2  console  verify demo/s1```");
    expect(buttonsOf(blocks)[0]!.text.text).toBe("Ask U0ALICE"); // plain_text shows no mentions
    expect(text).toBe("Approval needed: restore demo/s1 (asked by <@U0ALICE>, approval #1)\ndenied by <@W0BOB>; console and scheduler are not members; typed &lt;@U0EVE&gt; stays text");
    expect(JSON.stringify(blockKit(reply))).not.toMatch(/[\uE000\uE001]/);
  });

  it("prints the plain ids in the console, with the table's columns aligned on them", () => {
    const out = renderText(reply, 1);
    expect(out).not.toMatch(/[\uE000\uE001]/);
    expect(out.split("\n")).toEqual([
      "• Approval needed: restore demo/s1 (asked by U0ALICE, approval #1)",
      "  denied by W0BOB; console and scheduler are not members; typed <@U0EVE> stays text",
      "  asked by  U0ALICE",
      "  #  who      what",
      "  -  -------  --------------",
      "  1  U0ALICE  create demo",
      "  2  console  verify demo/s1",
      "  [1.1] Ask U0ALICE   (type /click <n>)",
    ]);
  });

  it("never cuts a mention in half when a text is too long for Slack", () => {
    for (let pad = 2985; pad < 3000; pad++) {
      const { blocks } = blockKit({ visibility: "channel", tone: "info", title: "t", lines: [`${"x".repeat(pad)} ${who("U0ALICE")} end`] });
      const line = texts(blocks[1]!)[0]!;
      expect(line.length).toBeLessThanOrEqual(LIMITS.text);
      expect(line.replace("<@U0ALICE>", "")).not.toMatch(/<|@U0A|ALICE|[\uE000\uE001]/); // whole, or not at all
    }
  });
});
