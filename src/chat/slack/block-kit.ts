import type { types } from "@slack/bolt";
import type { Button, Reply } from "../../reply.ts";
import { renderTable } from "../console/render-text.ts";
import { clip } from "../../replies/format.ts";
import { plainMentions, renderMentions } from "../../replies/mention.ts";

// Reply → Block Kit, by pure functions only: what Slack shows is decided here and pinned by tests.

export type Block = types.SectionBlock | types.ActionsBlock | types.ContextBlock;
export interface SlackMessage {
  /** Plain fallback: notifications, screen readers, clients without Block Kit. */
  text: string;
  blocks: Block[];
}

/** Slack's documented limits (api.slack.com/reference/block-kit). */
export const LIMITS = {
  blocks: 50,
  text: 3000, // a section's text
  field: 2000, // one section field
  fieldsPerSection: 10,
  label: 75, // a button's text
  value: 2000, // a button's value
  actionId: 255,
  buttonsPerBlock: 25,
} as const;

/** Buttons carry this prefix in their action_id so one listener (`/^snapbot:/`) receives them all. */
export const ACTION_PREFIX = "snapbot:";

const TONE: Record<Reply["tone"], string> = {
  info: "",
  success: ":white_check_mark: ",
  error: ":x: ",
  progress: ":hourglass_flowing_sand: ",
};

/** Slack reads &, < and > as markup (links, mentions): user text must not. */
export const escapeText = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Reply text as mrkdwn: escaped, and each person a reply names (mention()) a Slack mention. */
export const slackText = (s: string): string => renderMentions(escapeText(s), (id) => `<@${id}>`);

/** Cuts escaped text to at most n characters without splitting an entity or a mention (its only raw "<"). */
export function fit(escaped: string, n: number): string {
  if (escaped.length <= n) return escaped;
  return `${escaped.slice(0, n - 1).replace(/&[a-z]{0,3}$|<(@[A-Z0-9]*)?$/, "")}…`;
}

/** Like fit, but keeps the end (the last lines of stderr say most). */
function fitTail(escaped: string, n: number): string {
  if (escaped.length <= n) return escaped;
  return `…${escaped.slice(escaped.length - n + 1).replace(/^[a-z]{0,3};|^@?[A-Z0-9]*>/, "")}`;
}

const mrkdwn = (text: string): types.MrkdwnElement => ({ type: "mrkdwn", text });
const section = (text: string): types.SectionBlock => ({ type: "section", text: mrkdwn(text) });
const code = (body: string): string => `\`\`\`${body}\`\`\``;
const CODE_FENCES = 6;

/** One block of the body and what it holds, so a cut can say how much it left out. */
interface Piece {
  block: Block;
  unit: "line" | "field" | "row";
  count: number;
}

export function blockKit(r: Reply): SlackMessage {
  const title = section(fit(`${TONE[r.tone]}*${slackText(r.title)}*`, LIMITS.text));
  const { blocks: actions, dropped } = buttonBlocks(r.buttons ?? []);
  const notes = dropped ? [section(`_${dropped} button(s) left out: their command is longer than Slack allows_`)] : [];
  const pieces = [...linePieces(r.lines ?? []), ...monospacePieces(r.monospace ?? []), ...fieldPieces(r.fields ?? []), ...tablePieces(r)];
  const room = LIMITS.blocks - 1 - actions.length - notes.length;
  let body = pieces;
  if (pieces.length > room) {
    body = pieces.slice(0, room - 1); // one block is kept for the line that says what was cut
    notes.push(section(leftOutNote(pieces.slice(room - 1))));
  }
  return { text: fallbackText(r), blocks: [title, ...body.map((p) => p.block), ...notes, ...actions] };
}

function leftOutNote(cut: Piece[]): string {
  const counts = new Map<string, number>();
  for (const p of cut) counts.set(p.unit, (counts.get(p.unit) ?? 0) + p.count);
  const parts = [...counts].map(([unit, n]) => `${n} ${unit}${n === 1 ? "" : "s"}`);
  return `_… ${parts.join(", ")} left out: a Slack message holds at most ${LIMITS.blocks} blocks_`;
}

function fallbackText(r: Reply): string {
  return fit(slackText([r.title, ...(r.lines ?? []).map((l) => l.split("\n")[0])].join("\n")), LIMITS.text);
}

/** Single lines share sections; a multi-line entry (a stderr tail) is a code block of its own. */
function linePieces(lines: string[]): Piece[] {
  const out: Piece[] = [];
  let text = "";
  let count = 0;
  const flush = () => {
    if (count) out.push({ block: section(text), unit: "line", count });
    text = "";
    count = 0;
  };
  for (const line of lines) {
    if (line.includes("\n")) {
      flush();
      out.push({ block: section(code(fitTail(slackText(line), LIMITS.text - CODE_FENCES))), unit: "line", count: 1 });
      continue;
    }
    const escaped = fit(slackText(line), LIMITS.text);
    if (count && text.length + 1 + escaped.length > LIMITS.text) flush();
    text = count ? `${text}\n${escaped}` : escaped;
    count++;
  }
  flush();
  return out;
}

/**
 * Fixed-width lines (a tree) as code blocks, as many lines each as fit a section's 3000 characters (LIMITS.text,
 * fences included); a line longer than that alone is cut. Lines are never split across blocks.
 */
function monospacePieces(lines: string[]): Piece[] {
  const room = LIMITS.text - CODE_FENCES;
  const out: Piece[] = [];
  let chunk: string[] = [];
  let used = 0;
  const flush = () => {
    if (chunk.length) out.push({ block: section(code(chunk.join("\n"))), unit: "line", count: chunk.length });
    chunk = [];
    used = 0;
  };
  for (const line of lines.map((l) => fit(slackText(l), room))) {
    if (chunk.length && used + 1 + line.length > room) flush();
    used += (chunk.length ? 1 : 0) + line.length;
    chunk.push(line);
  }
  flush();
  return out;
}

function fieldPieces(fields: Array<[string, string]>): Piece[] {
  const out: Piece[] = [];
  for (let i = 0; i < fields.length; i += LIMITS.fieldsPerSection) {
    const group = fields.slice(i, i + LIMITS.fieldsPerSection);
    const block: types.SectionBlock = {
      type: "section",
      fields: group.map(([k, v]) => mrkdwn(fit(`*${slackText(k)}*\n${slackText(v)}`, LIMITS.field))),
    };
    out.push({ block, unit: "field", count: group.length });
  }
  return out;
}

/** The table as monospace text, cut into code blocks that each fit a section; each repeats the header. */
function tablePieces(r: Reply): Piece[] {
  if (!r.table) return [];
  // A mention in a row is longer than the id the columns were padded for: Slack shows the person's name anyway.
  const [header = "", rule = "", ...rows] = renderTable(r.table).map(slackText);
  const head = `${fit(header, 1000)}\n${fit(rule, 1000)}`;
  const rowRoom = LIMITS.text - CODE_FENCES - head.length - 1;
  const out: Piece[] = [];
  let chunk: string[] = [];
  const flush = () => {
    if (chunk.length) out.push({ block: section(code([head, ...chunk].join("\n"))), unit: "row", count: chunk.length });
    chunk = [];
  };
  let used = 0;
  for (const row of rows.map((x) => fit(x, rowRoom))) {
    if (chunk.length && used + 1 + row.length > rowRoom) {
      flush();
      used = 0;
    }
    chunk.push(row);
    used += (chunk.length > 1 ? 1 : 0) + row.length;
  }
  flush();
  if (out.length === 0) out.push({ block: section(code(head)), unit: "row", count: 0 });
  return out;
}

/** Buttons in actions blocks (25 a block). A command too long for a value is left out, never cut: a cut command is another command. */
function buttonBlocks(buttons: Button[]): { blocks: types.ActionsBlock[]; dropped: number } {
  const elements: types.Button[] = [];
  let dropped = 0;
  buttons.forEach((b, i) => {
    if (b.command.length > LIMITS.value) return void dropped++;
    const element: types.Button = {
      type: "button",
      text: { type: "plain_text", text: clip(plainMentions(b.label), LIMITS.label) || "…", emoji: true }, // plain text: no escaping
      value: b.command,
      action_id: `${ACTION_PREFIX}${i}`,
    };
    if (b.style) element.style = b.style;
    elements.push(element);
  });
  const blocks: types.ActionsBlock[] = [];
  for (let i = 0; i < elements.length; i += LIMITS.buttonsPerBlock)
    blocks.push({ type: "actions", elements: elements.slice(i, i + LIMITS.buttonsPerBlock) });
  return { blocks, dropped };
}
