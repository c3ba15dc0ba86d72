import type { Reply, Table } from "../../reply.ts";
import { plainMentions } from "../../replies/mention.ts";

const ICON: Record<Reply["tone"], string> = { info: "•", success: "✔", error: "✖", progress: "…" };
const HINT = { short: () => "   (type /click <n>)", full: (m: number) => `   (type /click ${m}.<n>)`, none: () => "" };

/**
 * Reply → plain text for a terminal or a pipe. Buttons show as [message.button]; the hint says what to type:
 * "short" for a reply (/click <n> presses the last reply's), "full" for a post (an alert: /click 3.<n>).
 */
export function renderText(r: Reply, message: number, hint: "short" | "full" | "none" = "short"): string {
  const out = [`${ICON[r.tone]} ${r.title}`];
  for (const l of r.lines ?? []) out.push(...l.split("\n").map((x) => `  ${x}`));
  for (const l of r.monospace ?? []) out.push(`  ${l}`);
  if (r.fields) {
    const w = Math.max(...r.fields.map(([k]) => k.length));
    for (const [k, v] of r.fields) out.push(`  ${k.padEnd(w)}  ${v}`);
  }
  if (r.table) out.push(...renderTable(r.table).map((l) => `  ${l}`));
  if (r.buttons?.length) out.push(`  ${r.buttons.map((b, i) => `[${message}.${i + 1}] ${b.label}`).join("   ")}${HINT[hint](message)}`);
  return plainMentions(out.join("\n"));
}

/** Columns padded to what shows: a marked person (mention()) counts as its plain id. */
export function renderTable(t: Table): string[] {
  const shown = (c: string) => plainMentions(c).length;
  const widths = t.columns.map((c, i) => Math.min(60, Math.max(c.length, ...t.rows.map((r) => shown(r[i] ?? "")))));
  const pad = (c: string, w: number) => c + " ".repeat(Math.max(0, w - shown(c)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : pad(c, widths[i]!))).join("  ").trimEnd();
  return [line(t.columns), line(widths.map((w) => "-".repeat(w))), ...t.rows.map(line)];
}

/** One line for a progress update of a message already printed. */
export function renderUpdate(r: Reply): string {
  return plainMentions(`  ${ICON[r.tone]} ${r.title}${r.lines?.[0] ? `: ${r.lines[0]}` : ""}`);
}
