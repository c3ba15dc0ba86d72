import type { RepoContext } from "./context.ts";
import type { AlertRepo, AlertRow } from "../ledger.ts";
import type { MessageRef } from "../../src/chat/chat-port.ts";
import { fromJson } from "../json.ts";

type Raw = Omit<AlertRow, "message_ref"> & { message_ref: string | null };
const row = (r: Raw): AlertRow => ({ ...r, message_ref: fromJson<MessageRef>(r.message_ref) });
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
        `INSERT INTO alerts AS x (kind, key, server_id, snapshot_id, state, message, channel, first_seen, last_seen)
         VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $7)
         ON CONFLICT (key) WHERE state = 'open' DO UPDATE SET count = x.count + 1, last_seen = EXCLUDED.last_seen, message = EXCLUDED.message
         RETURNING *, (xmax = 0) AS fresh`,
        [a.kind, a.key, a.server_id, a.snapshot_id, a.message, a.channel, now()],
      );
      const { fresh, ...alert } = r!;
      return { alert: row(alert), fresh };
    },
    async resolve(key, why = null) {
      const r = await s.one<Raw>("UPDATE alerts SET state = 'resolved', resolved_at = $2, resolved_why = $3 WHERE key = $1 AND state = 'open' RETURNING *", [
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
      await s.run("UPDATE alerts SET message_ref = $1 WHERE id = $2", [refText(ref), id]);
    },
    async setMessageMany(ids, ref) {
      await s.run("UPDATE alerts SET message_ref = $1 WHERE id = ANY($2::bigint[])", [refText(ref), ids]);
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
