import type { AlertRow } from "../../db/ledger.ts";
import { alertSubject } from "../../db/alert-keys.ts";
import type { Button, Reply } from "../reply.ts";
import type { Page } from "./snapshot-replies.ts";
import { PAGE_SIZE } from "./snapshot-replies.ts";
import { ago, clip, utc } from "./format.ts";
import { formatAge } from "../duration.ts";
import { mention } from "./mention.ts";

// Alert messages: one alert's own message, the summary a burst of alerts shares, the thread reply that
// says what was resolved, and the `alerts` list. Pure: the sink decides when, these decide what.

/** A summary lists this many alerts, then says how many more: 40 short lines stay well inside Block Kit's limits. */
export const SUMMARY_LINES = 40;
const LINE = 200; // characters of one listed alert

/** What an alert says: its title, its lines (a multi-line entry is a stderr tail) and buttons. */
export interface AlertDetail {
  title: string;
  lines: string[];
  buttons?: Button[];
}

/** The detail as the ledger keeps it (title and lines joined), when the raise that had it is gone (a restart). */
export function detailFromRow(a: AlertRow): AlertDetail {
  const [title = "", ...rest] = a.message.split("\n");
  return { title, lines: rest.length ? [rest.join("\n")] : [], ...(a.buttons ? { buttons: a.buttons } : {}) };
}

const firstLine = (a: AlertRow) => a.message.split("\n")[0] ?? "";
const openFor = (a: AlertRow) => formatAge((a.resolved_at ?? a.last_seen) - a.first_seen);
const seen = (a: AlertRow): string[] => (a.count > 1 ? [`seen ${a.count} times`, `last seen ${utc(a.last_seen)}, first ${utc(a.first_seen)}`] : []);

const acked = (a: AlertRow): string[] => (a.acked_by ? [`acknowledged by ${mention(a.acked_by)} at ${utc(a.acked_at)}`] : []);

/** One alert's own message: open (with its count and last sighting once repeated, and who acknowledged it), or resolved. */
export function alertMessage(a: AlertRow, d: AlertDetail, why?: string): Reply {
  if (a.state === "open")
    return { visibility: "channel", tone: "error", title: `${a.kind}: ${d.title}`, lines: [...d.lines, ...seen(a), ...acked(a)], buttons: d.buttons };
  const summary = `open for ${openFor(a)}${a.count > 1 ? `, seen ${a.count} times` : ""}`;
  return { visibility: "channel", tone: "success", title: `resolved ${a.kind}: ${d.title}`, lines: [...(why ? [why] : []), summary, ...d.lines] };
}

/** One line of a summary: kind, server/snapshot, first line, and its count or resolution. */
export function summaryLine(a: AlertRow): string {
  const what = `${a.kind} ${alertSubject(a.key)}: ${firstLine(a)}`;
  if (a.state === "resolved") return clip(`✔ resolved after ${openFor(a)}: ${what}`, LINE);
  const count = (a.count > 1 ? ` (×${a.count}, last seen ${utc(a.last_seen)})` : "") + (a.acked_by ? ` (acked by ${mention(a.acked_by)})` : "");
  return `• ${clip(what, LINE - count.length - 2)}${count}`;
}

const byKind = (rows: AlertRow[]): string => {
  const counts = new Map<string, number>();
  for (const a of rows) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${kind}`).join(", ");
};

const more = (n: number): string[] => (n > 0 ? [`… and ${n} more`] : []);

/** The one message a burst of alerts to one channel shares; resolved ones are marked on their line. */
export function alertSummary(rows: AlertRow[]): Reply {
  const resolved = rows.filter((a) => a.state === "resolved").length;
  const allDone = resolved === rows.length;
  const state = allDone ? ", all resolved" : resolved ? ` (${resolved} resolved, ${rows.length - resolved} open)` : "";
  return {
    visibility: "channel",
    tone: allDone ? "success" : "error",
    title: `${rows.length} alerts${state}: ${byKind(rows)}`,
    lines: [...rows.slice(0, SUMMARY_LINES).map(summaryLine), ...more(rows.length - SUMMARY_LINES)],
    buttons: allDone ? undefined : [{ label: "Open alerts", command: "alerts" }],
  };
}

/** The thread reply under a message when alerts it shows are resolved (several at once: one reply). Its ✔ is in
 * the title, so the tone is info (no second check mark from the adapter). */
export function resolutionReply(items: Array<{ alert: AlertRow; why?: string }>): Reply {
  if (items.length === 1) {
    const { alert: a, why } = items[0]!;
    const counted = a.count > 1 ? `, seen ${a.count} times` : "";
    return { visibility: "channel", tone: "info", title: `✔ resolved: ${why ?? `${a.kind} ${alertSubject(a.key)}`}`, lines: [`${a.kind} ${alertSubject(a.key)} was open for ${openFor(a)}${counted}`] };
  }
  const lines = items.slice(0, SUMMARY_LINES).map(({ alert: a, why }) => clip(`${a.kind} ${alertSubject(a.key)}${why ? `: ${why}` : ""} (open for ${openFor(a)})`, LINE));
  return { visibility: "channel", tone: "info", title: `✔ resolved: ${items.length} alerts`, lines: [...lines, ...more(items.length - SUMMARY_LINES)] };
}

const pageOf = (page: number, pages: number): string => (pages > 1 ? ` (page ${page} of ${pages})` : "");

/** What an alert is now, for the list: open, acknowledged (by whom, when) or resolved (when, why). */
function stateOf(a: AlertRow, now: number): string {
  if (a.state === "resolved") return clip(`resolved ${ago(now, a.resolved_at)}${a.resolved_why ? `: ${a.resolved_why}` : ""}`, 100);
  return a.acked_by ? `open, acked by ${mention(a.acked_by)} ${ago(now, a.acked_at)}` : "open";
}

/** `alerts`: the open alerts, the most recently seen first, a page at a time; `alerts --all`: resolved ones too. */
export function alertsList(rows: AlertRow[], page: Page, now: number, all: boolean): Reply {
  if (page.total === 0) return { visibility: "ephemeral", tone: "success", title: all ? "No alerts yet" : "No open alerts" };
  const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
  const first = (page.page - 1) * PAGE_SIZE + 1;
  const buttons: Button[] = [];
  if (page.page > 1) buttons.push({ label: "Previous", command: `${page.command} --page ${page.page - 1}` });
  if (page.page < pages) buttons.push({ label: "Next", command: `${page.command} --page ${page.page + 1}` });
  return {
    visibility: "ephemeral",
    tone: "info",
    title: `${all ? "Alerts, open and resolved," : "Open alerts"} ${first}–${first + rows.length - 1} of ${page.total}${pageOf(page.page, pages)}`,
    table: {
      columns: ["id", "kind", "server/snapshot", "first seen", "last seen", "count", "state", "message"],
      rows: rows.map((a) => [
        String(a.id), a.kind, alertSubject(a.key), ago(now, a.first_seen), ago(now, a.last_seen), String(a.count), stateOf(a, now), clip(firstLine(a), 100),
      ]),
    },
    lines: all ? undefined : ["alerts ack <id> acknowledges one (it stays until resolved); alerts --all shows resolved ones too"],
    buttons: buttons.length ? buttons : undefined,
  };
}
