import type { ServerRow, SnapshotRow } from "../../db/types.ts";
import type { Reply } from "../reply.ts";
import { ago, clip, dash, shortHash, size, utc } from "./format.ts";
import { formatAge } from "../duration.ts";
import { mention } from "./mention.ts";

export const PAGE_SIZE = 50;

export interface Page {
  page: number; // 1-based
  total: number;
  command: string; // the list command without --page, for the buttons
}

export function snapshotList(server: ServerRow, rows: SnapshotRow[], page: Page, now: number): Reply {
  const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
  if (page.total === 0)
    return { visibility: "ephemeral", tone: "info", title: `${server.name} has no snapshots yet`, lines: [`Take one with: create ${server.name}`] };
  const first = (page.page - 1) * PAGE_SIZE + 1;
  const buttons = [];
  if (page.page > 1) buttons.push({ label: "Previous", command: `${page.command} --page ${page.page - 1}` });
  if (page.page < pages) buttons.push({ label: "Next", command: `${page.command} --page ${page.page + 1}` });
  return {
    visibility: "ephemeral",
    tone: "info",
    title: `${server.name}: snapshots ${first}–${first + rows.length - 1} of ${page.total}${pages > 1 ? ` (page ${page.page} of ${pages})` : ""}`,
    table: {
      columns: ["name", "state", "size", "created", "verified", "expires", "origin"],
      rows: rows.map((s) => [s.name, s.state, size(s.size), `${utc(s.created_at)} (${ago(now, s.created_at)})`, s.verified_at ? ago(now, s.verified_at) : "never", utc(s.expires_at), s.origin]),
    },
    buttons: buttons.length ? buttons : undefined,
  };
}

/** A server unregistered since: its history is shown read-only, with one line saying so. */
export const unregisteredLine = (server: ServerRow): string =>
  `${server.name} is no longer registered (unregistered ${utc(server.removed_at)}); its history is kept, read-only`;

/** Where a snapshot sits in its server's tree (drivers with features.trees). */
export interface TreePlace {
  parent: string | null; // null: a root
  children: string[];
  current: boolean; // the server's current position
}

/** `copies`: its live copies on storage targets, one line ("offsite: done, verified 2m ago; nas: broken"), absent when none. */
export function snapshotDetail(s: SnapshotRow, now: number, server?: ServerRow, tree?: TreePlace, copies?: string): Reply {
  const vmState = s.details?.vm_state_size;
  const fields: Array<[string, string]> = [
    ["state", s.state],
    ["origin", s.origin],
    ...treeFields(s, tree),
    ["size", size(s.size)],
    ...(typeof vmState === "number" ? [["vm state", vmState === 0 ? "none (disk only)" : size(vmState)] as [string, string]] : []),
    ["checksum", dash(s.checksum)],
    ["parts", s.checksums ? String(s.checksums.length) : "—"],
    ...encryptedField(s),
    ...backendFields(s),
    ["created", `${utc(s.created_at)} (${ago(now, s.created_at)}) by ${mention(dash(s.created_by))}`],
    ["finished", s.finished_at ? `${utc(s.finished_at)} (took ${formatAge(s.finished_at - s.created_at)})` : "—"],
    ["expires", utc(s.expires_at)],
    ["last verified", s.verified_at ? `${utc(s.verified_at)} (${ago(now, s.verified_at)})` : "never"],
    ["location", dash(s.location)],
    ...(copies ? [["copies", copies] as [string, string]] : []),
  ];
  // The creation facts above stay; when and by whom it went is its own line.
  if (s.deleted_at !== null) fields.push([s.state, `${utc(s.deleted_at)} (${ago(now, s.deleted_at)}) by ${dash(s.deleted_by)}`]);
  if (s.note) fields.push(["note", s.note]);
  if (s.error) fields.push(["error", clip(s.error, 1500)]);
  const removed = server !== undefined && server.removed_at !== null;
  const buttons = ["done", "broken"].includes(s.state) && !removed
    ? [{ label: "Verify", command: `verify ${s.server}/${s.name}` }, { label: "Delete", command: `delete ${s.server}/${s.name}`, style: "danger" as const }]
    : undefined;
  const tone = s.state === "broken" || s.state === "failed" ? "error" : "info";
  const reply: Reply = { visibility: "ephemeral", tone, title: `${s.server}/${s.name}`, fields, buttons };
  if (removed) reply.lines = [unregisteredLine(server)];
  return reply;
}

/**
 * What the backend itself says of the snapshot (DESIGN.md §2: command's app metadata, Consul's ID/Index/Term): a driver
 * puts `about: [[label, value], …]` in its details; only string pairs are shown, so a driver cannot break the reply.
 */
function backendFields(s: SnapshotRow): Array<[string, string]> {
  const about = s.details?.about;
  if (!Array.isArray(about)) return [];
  return about.filter((f): f is [string, string] => Array.isArray(f) && f.length === 2 && f.every((x) => typeof x === "string")).slice(0, 12);
}

/** What the driver wants said in the create reply (details.notes: "stale: taken from a follower…"). */
export function detailNotes(s: SnapshotRow): string[] {
  const notes = s.details?.notes;
  return Array.isArray(notes) ? notes.filter((n): n is string => typeof n === "string") : [];
}

/** Sensitive servers' snapshots: encrypted with age, to these recipients (public keys; the identity is never here). */
function encryptedField(s: SnapshotRow): Array<[string, string]> {
  const enc = s.details?.encryption as { recipients?: unknown } | undefined;
  if (!enc || !Array.isArray(enc.recipients)) return [];
  return [["encrypted", `age, to ${enc.recipients.map(String).join(", ")} (restore and verify --full need an identity of one)`]];
}

function treeFields(s: SnapshotRow, tree: TreePlace | undefined): Array<[string, string]> {
  if (!tree) return [];
  const placed = typeof s.details?.placed === "string" ? ` (made outside snapbot; placed ${s.details.placed})` : "";
  return [
    ["parent", (tree.parent ?? "none (a root)") + placed],
    ["children", tree.children.length ? tree.children.join(", ") : "none"],
    ...(tree.current ? [["current", "yes: the server's state now descends from it (revert returns here)"] as [string, string]] : []),
  ];
}

export const snapshotLine = (s: SnapshotRow): string => `${s.server}/${s.name} (${s.state}, ${size(s.size)}, ${shortHash(s.checksum)})`;
