import pg from "pg";
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Coordination, LeaseHolder } from "../ledger.ts";
import type { Session } from "./session.ts";

// Replicas on one PostgreSQL database: a row per live process (its heartbeat, by the database's clock), a row per
// held lease (valid while its replica's heartbeat is), and the leader as whoever holds one session-level advisory
// lock on a connection of its own, as pg-boss holds its maintenance lock. A replica that dies closes that connection,
// so the server frees the lock at once and the next replica to try becomes the leader.

/** The leader lock's key ("snapld" in ASCII, below 2^53), apart from the migrations' MIGRATION_LOCK. */
export const LEADER_LOCK = 0x736e61706c64;
const NOW = "snapbot_now_ms()";

export interface PgCoordinationOptions {
  url: string;
  /** The pool's session: heartbeats, leases. */
  s: Session;
  connectTimeoutMs: number;
  now: () => number;
  warn?: (message: string) => void;
}

export function newReplicaId(): string {
  return `${hostname()}/${process.pid}/${randomBytes(3).toString("hex")}`;
}

export function pgCoordination(replica: string, o: PgCoordinationOptions): Coordination & { closeLeader(): Promise<void> } {
  const { s } = o;
  let client: pg.Client | null = null; // the leader lock's own connection, kept between tries
  let leading = false;

  const drop = async () => {
    const c = client;
    client = null;
    leading = false;
    await c?.end().catch(() => undefined);
  };
  const connect = async (): Promise<pg.Client> => {
    const c = new pg.Client({ connectionString: o.url, connectionTimeoutMillis: o.connectTimeoutMs, application_name: "snapbot leader", keepAlive: true });
    // A lost connection is a lost lock: this replica stops leading at its next check (lead() answers false).
    c.on("error", () => {
      if (client === c) leading = false;
    });
    await c.connect();
    // A leader whose statements stall (the server hung) must find out, not wait forever.
    await c.query(`SET statement_timeout = ${Math.max(1000, o.connectTimeoutMs)}`);
    return c;
  };

  return {
    replica,
    shared: true,
    async heartbeat(ttlMs) {
      const r = await s.one<{ lapsed: boolean }>(
        `WITH prev AS (SELECT alive_until FROM replicas WHERE id = $1)
         INSERT INTO replicas (id, host, pid, started_at, alive_until) VALUES ($1, $2, $3, $4, ${NOW} + $5)
         ON CONFLICT (id) DO UPDATE SET alive_until = ${NOW} + $5
         RETURNING COALESCE((SELECT alive_until FROM prev) < ${NOW}, false) AS lapsed`,
        [replica, hostname(), process.pid, o.now(), Math.round(ttlMs)],
      );
      return { lapsed: r?.lapsed ?? false };
    },
    async acquire(wanted, since) {
      if (wanted.length === 0) return [];
      // Free, already this replica's (a release that did not reach the database), or its holder is dead. The holders
      // of the others are read in the same statement (its snapshot: the rows as they were before this insert). Rows
      // are written in key order, so two replicas' batches over the same keys wait for each other, never deadlock.
      const rows = await s.rows<{ key: string; won: boolean; replica: string | null; label: string | null; since: number | null; operation_id: number | null }>(
        `WITH w AS (SELECT * FROM unnest($1::text[], $2::text[]) AS w(key, label)),
         won AS (
           INSERT INTO leases AS l (key, replica, label, operation_id, since) SELECT key, $3, label, NULL, $4 FROM w ORDER BY key
           ON CONFLICT (key) DO UPDATE SET replica = EXCLUDED.replica, label = EXCLUDED.label, operation_id = NULL, since = EXCLUDED.since
           WHERE l.replica = EXCLUDED.replica OR NOT EXISTS (SELECT 1 FROM replicas r WHERE r.id = l.replica AND r.alive_until > ${NOW})
           RETURNING key)
         SELECT w.key, w.key IN (SELECT key FROM won) AS won, h.replica, h.label, h.since, h.operation_id FROM w LEFT JOIN leases h ON h.key = w.key`,
        [wanted.map((w) => w.key), wanted.map((w) => w.label), replica, since],
      );
      const by = new Map(rows.map((r) => [r.key, r]));
      const out: (LeaseHolder | null)[] = [];
      for (const w of wanted) {
        const r = by.get(w.key);
        if (!r || r.won) out.push(null);
        else if (r.replica !== null) out.push({ key: w.key, replica: r.replica, label: r.label!, since: r.since!, operationId: r.operation_id });
        // Taken by a transaction that committed after this statement's snapshot was taken (or released since): ask again.
        else out.push((await this.acquire([w], since))[0]!);
      }
      return out;
    },
    async attach(leases) {
      if (leases.length === 0) return;
      await s.run("UPDATE leases l SET operation_id = u.op FROM unnest($1::text[], $2::bigint[]) AS u(key, op) WHERE l.key = u.key AND l.replica = $3", [
        leases.map((x) => x.key), leases.map((x) => x.operationId), replica,
      ]);
    },
    async release(key) {
      await s.run("DELETE FROM leases WHERE key = $1 AND replica = $2", [key, replica]);
    },
    async lead() {
      try {
        if (client && leading) {
          await client.query("SELECT 1"); // still connected, so still holding the lock
          return leading;
        }
        client ??= await connect();
        const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [LEADER_LOCK]);
        leading = r.rows[0]?.ok === true;
        return leading;
      } catch (e) {
        if (leading) o.warn?.(`lost the leader lock: ${(e as Error).message}`);
        await drop();
        return false;
      }
    },
    async resign() {
      if (client && leading) await client.query("SELECT pg_advisory_unlock($1)", [LEADER_LOCK]).catch(() => undefined);
      leading = false;
    },
    async alive() {
      return (await s.rows<{ id: string }>(`SELECT id FROM replicas WHERE alive_until > ${NOW} ORDER BY started_at, id`)).map((r) => r.id);
    },
    async leave() {
      await drop();
      await s.run("DELETE FROM leases WHERE replica = $1", [replica]);
      await s.run("DELETE FROM replicas WHERE id = $1", [replica]);
    },
    closeLeader: drop,
  };
}
