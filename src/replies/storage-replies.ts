import type { StoredSnapshot } from "../drivers/driver.ts";
import type { Button, Reply } from "../reply.ts";
import { clip, dash, size, utc } from "./format.ts";

// Replies of storage scan / adopt / remove. Removing storage is destructive: the scan's button is the dry
// run, whose reply carries the button that really removes.

const MAX_ROWS = 50;
const MAX_BUTTONS = 10;
const refOf = (s: Pick<StoredSnapshot, "server" | "name">) => `${s.server}/${s.name}`;

export interface ScanEntry {
  stored: StoredSnapshot;
  registered: boolean; // its server is registered: a complete snapshot can be adopted into it
}

function todo(e: ScanEntry): string {
  if (e.stored.status !== "complete") return `remove: storage remove ${refOf(e.stored)}`;
  if (!e.registered) return `register ${e.stored.server} to adopt it, or storage remove ${refOf(e.stored)}`;
  return `storage adopt ${refOf(e.stored)} (or remove)`;
}

export function storageScanReply(entries: ScanEntry[], scanners: number): Reply {
  if (scanners === 0)
    return {
      visibility: "ephemeral",
      tone: "info",
      title: "No registered server keeps its snapshots in storage, so there is nothing to scan",
      lines: ["register a server whose driver stores snapshots (e.g. register files-2 archive paths=/srv), then storage scan"],
    };
  if (entries.length === 0)
    return { visibility: "ephemeral", tone: "success", title: "Storage holds nothing the ledger does not know" };
  const buttons: Button[] = [];
  for (const e of entries) {
    const ref = refOf(e.stored);
    if (e.stored.status === "complete" && e.registered) buttons.push({ label: `Adopt ${ref}`, command: `storage adopt ${ref}`, style: "primary" });
    buttons.push({ label: `Remove ${ref}…`, command: `storage remove ${ref} --dry-run` });
  }
  const shown = entries.slice(0, MAX_ROWS);
  return {
    visibility: "ephemeral",
    tone: "info",
    title: `Storage holds ${entries.length} snapshot(s) the ledger does not know`,
    lines: entries.length > MAX_ROWS ? [`the first ${MAX_ROWS} are shown`] : undefined,
    table: {
      columns: ["snapshot", "status", "size", "created", "what to do"],
      rows: shown.map((e) => [refOf(e.stored), statusText(e.stored), size(e.stored.size), utc(e.stored.createdAt), todo(e)]),
    },
    buttons: buttons.slice(0, MAX_BUTTONS),
  };
}

const statusText = (s: StoredSnapshot) => (s.problem ? `${s.status}: ${clip(s.problem, 120)}` : s.status);

export function storageRemovePlan(s: StoredSnapshot): Reply {
  return {
    visibility: "ephemeral",
    tone: "info",
    title: `Dry run: storage remove ${refOf(s)} would delete ${s.location} (${s.status}); nothing was removed`,
    fields: [
      ["status", statusText(s)],
      ["size", size(s.size)],
      ["parts", s.parts.length ? String(s.parts.length) : "—"],
      ["created", dash(utc(s.createdAt))],
    ],
    buttons: [{ label: `Remove ${refOf(s)}`, command: `storage remove ${refOf(s)}`, style: "danger" }],
  };
}

export function storageRemoved(s: StoredSnapshot, who: string): Reply {
  return { visibility: "channel", tone: "success", title: `${refOf(s)} removed from storage by ${who} (${s.location}, ${s.status})` };
}
