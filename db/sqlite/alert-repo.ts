import type { Db } from "./open-db.ts";
import type { MessageRef } from "../../src/chat/chat-port.ts";
import { fromJson, toJson } from "../json.ts";
import type { Button } from "../../src/reply.ts";
import { transactional } from "./statements.ts";
import type { AlertDue, PostClaim } from "../types.ts";

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
  /** The buttons its message shows, when the raise gave some. */
  buttons?: Button[];
}

export interface NewAlert {
  kind: AlertKind;
  key: string;
  server_id: number | null;
  snapshot_id: number | null;
  message: string;
  channel: string | null;
  buttons?: Button[] | null;
}

type Outbox = { post_due?: number; posting_by?: string | null; update_due?: number; reply_due?: number };
type Raw = Omit<AlertRow, "message_ref" | "buttons"> & { message_ref: string | null; buttons?: string | null } & Outbox;
// The outbox columns are the sender's (due, claimPosts…), not part of the row callers see.
const row = (r: Raw | undefined): AlertRow | undefined => {
  if (!r) return undefined;
  const { post_due: _p, posting_by: _b, update_due: _u, reply_due: _r, buttons, ...alert } = r;
  const b = fromJson<Button[]>(buttons ?? null);
  return { ...alert, message_ref: fromJson<MessageRef>(r.message_ref), ...(b ? { buttons: b } : {}) };
};
// One spelling per message, so the alerts sharing a summary message can be found by equality.
const refText = (ref: MessageRef): string => JSON.stringify({ channel: ref.channel, ts: ref.ts });

export function alertRepo(db: Db, now: () => number) {
  const open = db.prepare("SELECT * FROM alerts WHERE key = ? AND state = 'open'");
  const insert = db.prepare(`INSERT INTO alerts (kind, key, server_id, snapshot_id, state, message, channel, first_seen, last_seen, post_due, buttons)
    VALUES (@kind, @key, @server_id, @snapshot_id, 'open', @message, @channel, @at, @at, @channel IS NOT NULL, @buttons)`);
  // A repeat of a posted alert owes its message an update; one not posted yet is posted as it is then.
  const again = db.prepare(`UPDATE alerts SET count = count + 1, last_seen = @at, message = @message, buttons = @buttons,
    update_due = update_due + (message_ref IS NOT NULL) WHERE id = @id`);
  // Prepared once: a burst of alerts (a storage outage) raises, reads and re-renders hundreds at a time.
  const byId = db.prepare("SELECT * FROM alerts WHERE id = ?");
  const close = db.prepare(`UPDATE alerts SET state = 'resolved', resolved_at = ?, resolved_why = ?,
    update_due = update_due + (message_ref IS NOT NULL), reply_due = (message_ref IS NOT NULL) WHERE id = ? AND state = 'open'`);
  // Keys are kind:server:snapshot, so the open alerts of one kind on one server share a prefix (names never hold ":").
  const openOfServer = db.prepare("SELECT key FROM alerts WHERE state = 'open' AND kind = ? AND substr(key, 1, ?) = ? ORDER BY id").pluck();
  const ackOne = db.prepare("UPDATE alerts SET acked_by = ?, acked_at = ? WHERE id = ? AND state = 'open' AND acked_by IS NULL");
  const setRef = db.prepare("UPDATE alerts SET message_ref = ?, post_due = 0, posting_by = NULL WHERE id = ?");
  const dueRows = db.prepare(`SELECT id, channel, post_due, update_due, reply_due FROM alerts
    WHERE (post_due = 1 OR update_due > 0 OR reply_due = 1) AND channel IS NOT NULL ORDER BY id`);
  const dueOne = db.prepare(`SELECT id, channel, post_due, update_due, reply_due FROM alerts
    WHERE id = ? AND (post_due = 1 OR update_due > 0 OR reply_due = 1) AND channel IS NOT NULL`);
  // One process on the file: a claim by another process id is a dead one's (a crash between its post and its record).
  const claim = db.prepare("UPDATE alerts SET posting_by = @me WHERE id = @id AND post_due = 1 AND (posting_by IS NULL OR posting_by != @me)");
  const claimant = db.prepare("SELECT posting_by FROM alerts WHERE id = ?").pluck();
  const unclaim = db.prepare("UPDATE alerts SET posting_by = NULL WHERE id = @id AND posting_by = @me AND post_due = 1");
  const updatedOne = db.prepare("UPDATE alerts SET update_due = 0 WHERE id = ? AND update_due = ?");
  const repliedOne = db.prepare("UPDATE alerts SET reply_due = 0 WHERE id = ?");
  const touchOne = db.prepare("UPDATE alerts SET update_due = update_due + 1 WHERE id = ? AND message_ref IS NOT NULL");
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
          again.run({ id: existing.id, at: now(), message: a.message, buttons: toJson(a.buttons ?? null) });
          return { alert: row(open.get(a.key) as Raw)!, fresh: false };
        }
        const id = Number(insert.run({ ...a, at: now(), buttons: toJson(a.buttons ?? null) }).lastInsertRowid);
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
    /** What alert messages still owe, oldest first. */
    due(ids?: number[]): AlertDue[] {
      type Due = { id: number; channel: string; post_due: number; update_due: number; reply_due: number };
      const rows = ids ? ids.map((id) => dueOne.get(id) as Due | undefined).filter((r): r is Due => r !== undefined) : (dueRows.all() as Due[]);
      return rows.map((r) => ({ id: r.id, channel: r.channel, post: r.post_due === 1, update: r.update_due, reply: r.reply_due === 1 }));
    },
    /** The first posts of these alerts for this process: the ids it may post now. */
    claimPosts(ids: number[], me: string): PostClaim {
      return inTx(() => {
        const out: PostClaim = { claimed: [], tookOver: [] };
        for (const id of ids) {
          const before = claimant.get(id) as string | null | undefined;
          if (claim.run({ id, me }).changes !== 1) continue;
          out.claimed.push(id);
          if (before) out.tookOver.push(id);
        }
        return out;
      });
    },
    unclaimPosts(ids: number[], me: string): void {
      inTx(() => ids.forEach((id) => unclaim.run({ id, me })));
    },
    updated(id: number, seen: number): void {
      updatedOne.run(id, seen);
    },
    replied(ids: number[]): void {
      inTx(() => ids.forEach((id) => repliedOne.run(id)));
    },
    touch(id: number): void {
      touchOne.run(id);
    },
  };
}
export type AlertRepo = ReturnType<typeof alertRepo>;
