import type { Db } from "./open-db.ts";
import type { MessageRef } from "../src/chat/chat-port.ts";
import { fromJson } from "./json.ts";

export type AlertKind =
  | "snapshot_failed"
  | "snapshot_broken"
  | "hostkey_regen_needed"
  | "hostkey_changed"
  | "schedule_missed"
  | "snapshot_stale"
  | "limit_near";

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

export function alertRepo(db: Db, now: () => number) {
  const open = db.prepare("SELECT * FROM alerts WHERE key = ? AND state = 'open'");
  const insert = db.prepare(`INSERT INTO alerts (kind, key, server_id, snapshot_id, state, message, channel, first_seen, last_seen)
    VALUES (@kind, @key, @server_id, @snapshot_id, 'open', @message, @channel, @at, @at)`);
  const again = db.prepare("UPDATE alerts SET count = count + 1, last_seen = @at, message = @message WHERE id = @id");

  return {
    /** Opens an alert, or counts one more sighting of the open alert with the same key (no new message). */
    raise(a: NewAlert): { alert: AlertRow; fresh: boolean } {
      return db.transaction(() => {
        const existing = row(open.get(a.key) as Raw | undefined);
        if (existing) {
          again.run({ id: existing.id, at: now(), message: a.message });
          return { alert: row(open.get(a.key) as Raw)!, fresh: false };
        }
        const id = Number(insert.run({ ...a, at: now() }).lastInsertRowid);
        return { alert: row(db.prepare("SELECT * FROM alerts WHERE id = ?").get(id) as Raw)!, fresh: true };
      })();
    },
    /** Closes the open alert with this key; returns it (with where its message is) or undefined. */
    resolve(key: string): AlertRow | undefined {
      const existing = row(open.get(key) as Raw | undefined);
      if (!existing) return undefined;
      db.prepare("UPDATE alerts SET state = 'resolved', resolved_at = ? WHERE id = ? AND state = 'open'").run(now(), existing.id);
      return { ...existing, state: "resolved" };
    },
    setMessage(id: number, ref: MessageRef): void {
      db.prepare("UPDATE alerts SET message_ref = ? WHERE id = ?").run(JSON.stringify(ref), id);
    },
    listOpen(): AlertRow[] {
      return (db.prepare("SELECT * FROM alerts WHERE state = 'open' ORDER BY last_seen DESC").all() as Raw[]).map((r) => row(r)!);
    },
  };
}
export type AlertRepo = ReturnType<typeof alertRepo>;
