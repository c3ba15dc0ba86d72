import type { RepoContext } from "./context.ts";
import type { AlertRepo, AlertRow } from "../ledger.ts";
import type { MessageRef } from "../../src/chat/chat-port.ts";
import { fromJson, toJson } from "../json.ts";
import type { Button } from "../../src/reply.ts";

type Raw = Omit<AlertRow, "message_ref" | "buttons"> & { message_ref: string | null; buttons?: string | null; post_due?: boolean; posting_by?: string | null; update_due?: number; reply_due?: boolean };
// The outbox columns are the sender's (due, claimPosts…), not part of the row callers see.
const row = ({ post_due: _p, posting_by: _b, update_due: _u, reply_due: _r, buttons, ...r }: Raw): AlertRow => {
  const b = fromJson<Button[]>(buttons ?? null);
  return { ...r, message_ref: fromJson<MessageRef>(r.message_ref), ...(b ? { buttons: b } : {}) };
};
// One spelling per message (as SQLite's alert-repo.ts), so the alerts sharing a summary message are found by equality.
const refText = (ref: MessageRef): string => JSON.stringify({ channel: ref.channel, ts: ref.ts });

export function alertRepo({ s, now }: RepoContext): AlertRepo {
  const many = async (sql: string, values: unknown[] = []) => (await s.rows<Raw>(sql, values)).map(row);
  const count = async (sql: string) => (await s.one<{ n: number }>(sql))!.n;
  return {
    async raise(a) {
      // One upsert on the open-alert index: a new alert, or one more sighting of the open one with this key. Two
      // replicas raising the same alert at once cannot both open it (SQLite's read-then-write relies on its one writer).
      // xmax is 0 on a row this statement inserted, and the locking transaction's id on one it updated.
      const r = await s.one<Raw & { fresh: boolean }>(
        `INSERT INTO alerts AS x (kind, key, server_id, snapshot_id, state, message, channel, first_seen, last_seen, post_due, buttons)
         VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $7, $6::text IS NOT NULL, $8)
         ON CONFLICT (key) WHERE state = 'open' DO UPDATE SET count = x.count + 1, last_seen = EXCLUDED.last_seen, message = EXCLUDED.message, buttons = EXCLUDED.buttons,
           update_due = x.update_due + (x.message_ref IS NOT NULL)::int
         RETURNING *, (xmax = 0) AS fresh`,
        [a.kind, a.key, a.server_id, a.snapshot_id, a.message, a.channel, now(), toJson(a.buttons ?? null)],
      );
      const { fresh, ...alert } = r!;
      return { alert: row(alert), fresh };
    },
    async resolve(key, why = null) {
      const r = await s.one<Raw>(
        `UPDATE alerts SET state = 'resolved', resolved_at = $2, resolved_why = $3,
           update_due = update_due + (message_ref IS NOT NULL)::int, reply_due = (message_ref IS NOT NULL)
         WHERE key = $1 AND state = 'open' RETURNING *`, [
        key, now(), why,
      ]);
      return r && row(r);
    },
    async openKeys(kind, server) {
      // Keys are kind:server:snapshot and names never hold ":", so one server's alerts of a kind share a prefix.
      const rows = await s.rows<{ key: string }>("SELECT key FROM alerts WHERE state = 'open' AND kind = $1 AND starts_with(key, $2) ORDER BY id", [
        kind, `${kind}:${server}:`,
      ]);
      return rows.map((r) => r.key);
    },
    async ack(id, by) {
      return (await s.run("UPDATE alerts SET acked_by = $2, acked_at = $3 WHERE id = $1 AND state = 'open' AND acked_by IS NULL", [id, by, now()])) === 1;
    },
    async setMessage(id, ref) {
      await s.run("UPDATE alerts SET message_ref = $1, post_due = false, posting_by = NULL WHERE id = $2", [refText(ref), id]);
    },
    async setMessageMany(ids, ref) {
      await s.run("UPDATE alerts SET message_ref = $1, post_due = false, posting_by = NULL WHERE id = ANY($2::bigint[])", [refText(ref), ids]);
    },
    async due(ids) {
      const rows = await s.rows<{ id: number; channel: string; post_due: boolean; update_due: number; reply_due: boolean }>(
        `SELECT id, channel, post_due, update_due, reply_due FROM alerts WHERE (post_due OR update_due > 0 OR reply_due) AND channel IS NOT NULL
         ${ids ? "AND id = ANY($1::bigint[])" : ""} ORDER BY id`,
        ids ? [ids] : [],
      );
      return rows.map((r) => ({ id: r.id, channel: r.channel, post: r.post_due, update: r.update_due, reply: r.reply_due }));
    },
    async claimPosts(ids, me) {
      // Not being posted by a live replica: a dead one's claim (killed between its post and its record) is taken over.
      const rows = await s.rows<{ id: number; took_over: boolean }>(
        `WITH old AS (SELECT id, posting_by FROM alerts WHERE id = ANY($1::bigint[]) FOR UPDATE)
         UPDATE alerts a SET posting_by = $2 FROM old WHERE a.id = old.id AND a.post_due
           AND (old.posting_by IS NULL OR (old.posting_by != $2 AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = old.posting_by AND r.alive_until > snapbot_now_ms())))
         RETURNING a.id, old.posting_by IS NOT NULL AS took_over`,
        [ids, me],
      );
      const won = new Map(rows.map((r) => [r.id, r.took_over]));
      const claimed = ids.filter((id) => won.has(id));
      return { claimed, tookOver: claimed.filter((id) => won.get(id)) };
    },
    async unclaimPosts(ids, me) {
      await s.run("UPDATE alerts SET posting_by = NULL WHERE id = ANY($1::bigint[]) AND posting_by = $2 AND post_due", [ids, me]);
    },
    async updated(id, seen) {
      await s.run("UPDATE alerts SET update_due = 0 WHERE id = $1 AND update_due = $2", [id, seen]);
    },
    async replied(ids) {
      await s.run("UPDATE alerts SET reply_due = false WHERE id = ANY($1::bigint[])", [ids]);
    },
    async touch(id) {
      await s.run("UPDATE alerts SET update_due = update_due + 1 WHERE id = $1 AND message_ref IS NOT NULL", [id]);
    },
    async get(id) {
      const r = await s.one<Raw>("SELECT * FROM alerts WHERE id = $1", [id]);
      return r && row(r);
    },
    byMessage: (ref) => many("SELECT * FROM alerts WHERE message_ref = $1 ORDER BY id", [refText(ref)]),
    listOpen: () => many("SELECT * FROM alerts WHERE state = 'open' ORDER BY last_seen DESC, id"),
    async openPage(limit, offset) {
      const rows = await many("SELECT * FROM alerts WHERE state = 'open' ORDER BY last_seen DESC, id DESC LIMIT $1 OFFSET $2", [limit, offset]);
      return { rows, total: await count("SELECT count(*) AS n FROM alerts WHERE state = 'open'") };
    },
    async allPage(limit, offset) {
      // --all: the open ones first, then the resolved ones, the most recently resolved first.
      const rows = await many(
        "SELECT * FROM alerts ORDER BY state = 'resolved', coalesce(resolved_at, last_seen) DESC, id DESC LIMIT $1 OFFSET $2",
        [limit, offset],
      );
      return { rows, total: await count("SELECT count(*) AS n FROM alerts") };
    },
  };
}
