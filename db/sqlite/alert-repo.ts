import type { Db } from "./open-db.ts";
import type { MessageRef } from "../../src/chat/chat-port.ts";
import { fromJson } from "../json.ts";
import { transactional } from "./statements.ts";

export type AlertKind =
  | "snapshot_failed"
  | "snapshot_broken"
  | "hostkey_regen_needed"
  | "hostkey_changed"
  | "schedule_missed"
  | "snapshot_stale"
  | "limit_near"
  | "ledger_full"
  | "copy_failed"
  | "hook_failed";

export interface AlertRow {
  id: number;
  kind: AlertKind;
  key: string;
  server_id: number | null;
  snapshot_id: number | null;
  state: "open" | "resolved";
  message: string;
  count: number;
  channel: string | null;
  message_ref: MessageRef | null;
  first_seen: number;
  last_seen: number;
  resolved_at: number | null;
  resolved_why: string | null;
  acked_by: string | null;
  acked_at: number | null;
}

export interface NewAlert {
  kind: AlertKind;
  key: string;
  server_id: number | null;
  snapshot_id: number | null;
  message: string;
  channel: string | null;
}

type Raw = Omit<AlertRow, "message_ref"> & { message_ref: string | null };
const row = (r: Raw | undefined): AlertRow | undefined => r && { ...r, message_ref: fromJson<MessageRef>(r.message_ref) };
// One spelling per message, so the alerts sharing a summary message can be found by equality.
const refText = (ref: MessageRef): string => JSON.stringify({ channel: ref.channel, ts: ref.ts });

export function alertRepo(db: Db, now: () => number) {
  const open = db.prepare("SELECT * FROM alerts WHERE key = ? AND state = 'open'");
  const insert = db.prepare(`INSERT INTO alerts (kind, key, server_id, snapshot_id, state, message, channel, first_seen, last_seen)
    VALUES (@kind, @key, @server_id, @snapshot_id, 'open', @message, @channel, @at, @at)`);
  const again = db.prepare("UPDATE alerts SET count = count + 1, last_seen = @at, message = @message WHERE id = @id");
  // Prepared once: a burst of alerts (a storage outage) raises, reads and re-renders hundreds at a time.
  const byId = db.prepare("SELECT * FROM alerts WHERE id = ?");
  const close = db.prepare("UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_why = ? WHERE id = ? AND state = 'open'");
  // Keys are kind:server:snapshot, so the open alerts of one kind on one server share a prefix (names never hold ":").
  const openOfServer = db.prepare("SELECT key FROM alerts WHERE state = 'open' AND kind = ? AND substr(key, 1, ?) = ? ORDER BY id").pluck();
  const ackOne = db.prepare("UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ? AND state = 'open' AND acked_by IS NULL");
  const setRef = db.prepare("UPDATE alerts SET message_ref = ? WHERE id = ?");
  const shownBy = db.prepare("SELECT * FROM alerts WHERE message_ref = ? ORDER BY id");
  const allOpen = db.prepare("SELECT * FROM alerts WHERE state = 'open' ORDER BY last_seen DESC");
  const openRows = db.prepare("SELECT * FROM alerts WHERE state = 'open' ORDER BY last_seen DESC, id DESC LIMIT ? OFFSET ?");
  const openCount = db.prepare("SELECT count(*) FROM alerts WHERE state = 'open'").pluck();
  // --all: the open ones first, then the resolved ones, the most recently resolved first.
  const allRows = db.prepare(`SELECT * FROM alerts ORDER BY state = 'resolved', coalesce(resolved_at, last_seen) DESC, id DESC
    LIMIT ? OFFSET ?`);
  const allCount = db.prepare("SELECT count(*) FROM alerts").pluck();
  const inTx = transactional(db);

  return {
    /** Opens an alert, or counts one more sighting of the open alert with the same key (no new message). */
    raise(a: NewAlert): { alert: AlertRow; fresh: boolean } {
      return inTx(() => {
        const existing = row(open.get(a.key) as Raw | undefined);
        if (existing) {
          again.run({ id: existing.id, at: now(), message: a.message });
          return { alert: row(open.get(a.key) as Raw)!, fresh: false };
        }
        const id = Number(insert.run({ ...a, at: now() }).lastInsertRowid);
        return { alert: row(byId.get(id) as Raw)!, fresh: true };
      });
    },
    /** Closes the open alert with this key, recording why; returns it (with where its message is) or undefined. */
    resolve(key: string, why: string | null = null): AlertRow | undefined {
      const existing = row(open.get(key) as Raw | undefined);
      if (!existing) return undefined;
      close.run(now(), why, existing.id);
      return row(byId.get(existing.id) as Raw)!;
    },
    /** The keys of the open alerts of this kind on this server, whatever snapshot they name. */
    openKeys(kind: AlertKind, server: string): string[] {
      const prefix = `${kind}:${server}:`;
      return openOfServer.all(kind, prefix.length, prefix) as string[];
    },
    /** Records who acknowledged an open alert; false when it is not open or was already acknowledged. */
    ack(id: number, by: string): boolean {
      return ackOne.run(by, now(), id).changes === 1;
    },
    setMessage(id: number, ref: MessageRef): void {
      setRef.run(refText(ref), id);
    },
    /** Several alerts shown by one (summary) message: they share its ref. */
    setMessageMany(ids: number[], ref: MessageRef): void {
      inTx(() => ids.forEach((id) => setRef.run(refText(ref), id)));
    },
    get(id: number): AlertRow | undefined {
      return row(byId.get(id) as Raw | undefined);
    },
    /** The alerts a message shows, oldest first: one for an alert's own message, several for a summary. */
    byMessage(ref: MessageRef): AlertRow[] {
      return (shownBy.all(refText(ref)) as Raw[]).map((r) => row(r)!);
    },
    listOpen(): AlertRow[] {
      return (allOpen.all() as Raw[]).map((r) => row(r)!);
    },
    /** One page of the open alerts, the most recently seen first, and how many there are. */
    openPage(limit: number, offset: number): { rows: AlertRow[]; total: number } {
      const rows = openRows.all(limit, offset) as Raw[];
      return { rows: rows.map((r) => row(r)!), total: openCount.get() as number };
    },
    /** One page of every alert, open ones first, then resolved ones (the most recently resolved first). */
    allPage(limit: number, offset: number): { rows: AlertRow[]; total: number } {
      const rows = allRows.all(limit, offset) as Raw[];
      return { rows: rows.map((r) => row(r)!), total: allCount.get() as number };
    },
  };
}
export type AlertRepo = ReturnType<typeof alertRepo>;
