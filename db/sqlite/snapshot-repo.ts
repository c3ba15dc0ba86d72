import { statementCache } from "./statements.ts";
import type Database from "better-sqlite3";
import type { Db } from "./open-db.ts";
import type { SnapshotRow } from "../types.ts";
import { fromJson, toJson } from "../json.ts";
import { assertTransition, snapshotMachine, type SnapshotState } from "../states.ts";
import { SnapbotError } from "../../src/errors.ts";

const SELECT = "SELECT s.*, v.name AS server FROM snapshots s JOIN servers v ON v.id = s.server_id";
type Raw = Omit<SnapshotRow, "checksums" | "details" | "stateful"> & { checksums: string; details: string; stateful: number };
const row = (r: Raw | undefined): SnapshotRow | undefined =>
  r && { ...r, stateful: r.stateful === 1, checksums: fromJson(r.checksums), details: fromJson(r.details) };

export interface NewSnapshot {
  server_id: number;
  name: string;
  created_by: string | null;
  origin?: SnapshotRow["origin"];
  parent_id?: number | null;
  expires_at?: number | null;
  note?: string | null;
  stateful?: boolean;
  state?: "pending" | "running" | "done"; // running: recorded as its create starts (no pending row first)
  created_at?: number; // imported snapshots keep the backend's creation time
  finished_at?: number | null;
  size?: number | null;
}

/** Fields a transition may set along with the new state. */
export type SnapshotChanges = Partial<
  Pick<
    SnapshotRow,
    "location" | "size" | "checksum" | "checksums" | "details" | "finished_at" | "verified_at" | "error" | "deleted_at" | "deleted_by"
  >
>;

export type ExpiredRef = Pick<SnapshotRow, "id" | "server_id" | "server" | "name" | "location" | "created_at"> & { expires_at: number };

export interface ListOptions {
  state?: SnapshotState;
  all?: boolean; // include deleted, failed and expired
  limit: number;
  offset: number;
}

export function snapshotRepo(db: Db, now: () => number) {
  const byId = db.prepare(`${SELECT} WHERE s.id = ?`);
  const live = db.prepare(`${SELECT} WHERE s.server_id = ? AND s.name = ? AND s.state NOT IN ('deleted','failed','expired')`);
  const latest = db.prepare(`${SELECT} WHERE s.server_id = ? AND s.name = ? ORDER BY s.id DESC LIMIT 1`);
  const insert = db.prepare(`INSERT INTO snapshots (server_id, name, parent_id, state, origin, note, stateful, created_by, created_at, finished_at, expires_at, size)
    VALUES (@server_id, @name, @parent_id, @state, @origin, @note, @stateful, @created_by, @created_at, @finished_at, @expires_at, @size)`);

  const expiredStmt = db.prepare(`SELECT s.id, s.server_id, v.name AS server, s.name, s.location, s.created_at, s.expires_at
    FROM snapshots s JOIN servers v ON v.id = s.server_id
    WHERE s.state = 'done' AND s.expires_at IS NOT NULL AND s.expires_at <= ? ORDER BY s.expires_at`);
  const expiredOfStmt = db.prepare(`SELECT s.id, s.server_id, v.name AS server, s.name, s.location, s.created_at, s.expires_at
    FROM snapshots s JOIN servers v ON v.id = s.server_id
    WHERE s.state = 'done' AND s.expires_at IS NOT NULL AND s.expires_at <= ? AND s.server_id = ? ORDER BY s.expires_at`);
  const prepared = statementCache(db);
  const liveNames = db.prepare("SELECT name FROM snapshots WHERE server_id = ? AND state NOT IN ('deleted','failed','expired')").pluck();
  // Same WHERE as the partial index snapshots_live_name: a count read from the index alone.
  const liveCount = db.prepare("SELECT count(*) FROM snapshots WHERE server_id = ? AND state NOT IN ('deleted','failed','expired')").pluck();
  const verifiable = db.prepare(`${SELECT} WHERE s.server_id = ? AND s.state IN ('done','broken') ORDER BY s.id`);

  return {
    get(id: number): SnapshotRow | undefined {
      return row(byId.get(id) as Raw | undefined);
    },
    /** The snapshot of that name that still exists (one index probe), or undefined. */
    findLive(serverId: number, name: string): SnapshotRow | undefined {
      return row(live.get(serverId, name) as Raw | undefined);
    },
    /** findLive for many (server, name) pairs: the snapshots among them that still exist. */
    liveAmong(pairs: { serverId: number; name: string }[]): SnapshotRow[] {
      return pairs.flatMap((p) => row(live.get(p.serverId, p.name) as Raw | undefined) ?? []);
    },
    /** The snapshot of that name that still exists, else the newest record of it (deleted, failed…). */
    find(serverId: number, name: string): SnapshotRow | undefined {
      return row((live.get(serverId, name) ?? latest.get(serverId, name)) as Raw | undefined);
    },
    insert(s: NewSnapshot): SnapshotRow {
      try {
        const info = insert.run({
          parent_id: null,
          origin: "snapbot",
          note: null,
          expires_at: null,
          finished_at: null,
          size: null,
          ...s,
          state: s.state ?? "pending",
          stateful: s.stateful ? 1 : 0,
          created_at: s.created_at ?? now(),
        });
        return this.get(Number(info.lastInsertRowid))!;
      } catch (e) {
        if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE")
          throw new SnapbotError("snapshot_exists", `a snapshot named ${s.name} already exists on this server`, { cause: e });
        throw e;
      }
    },
    /**
     * The one way a snapshot changes state: checks the state machine and updates with a guard on the
     * state it read, so a concurrent change makes this fail instead of being overwritten. One UPDATE …
     * RETURNING, no savepoint: the guard is what makes it safe, and the row comes back from the write itself.
     */
    transition(id: number, to: SnapshotState, changes: SnapshotChanges = {}): SnapshotRow {
      const cur = this.get(id);
      if (!cur) throw new SnapbotError("unknown_snapshot", `snapshot #${id} does not exist`);
      assertTransition(snapshotMachine, "snapshot", id, cur.state, to);
      const sets = ["state = @to"];
      const params: Record<string, unknown> = { id, from: cur.state, to };
      for (const [k, v] of Object.entries(changes)) {
        sets.push(`${k} = @${k}`);
        params[k] = k === "checksums" || k === "details" ? toJson(v) : v;
      }
      const r = prepared(`UPDATE snapshots SET ${sets.join(", ")} WHERE id = @id AND state = @from RETURNING *`).get(params) as Raw | undefined;
      if (!r) throw new SnapbotError("concurrent_change", `snapshot #${id} changed while being updated`);
      return row({ ...r, server: cur.server })!;
    },
    /** Fields that change no state (verification time, details). */
    annotate(id: number, changes: Pick<SnapshotChanges, "verified_at" | "details" | "error">): void {
      const sets = Object.keys(changes).map((k) => `${k} = @${k}`);
      if (sets.length === 0) return;
      const params = Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, k === "details" ? toJson(v) : v]));
      db.prepare(`UPDATE snapshots SET ${sets.join(", ")} WHERE id = @id`).run({ ...params, id });
    },
    list(serverId: number, o: ListOptions): { rows: SnapshotRow[]; total: number } {
      const where = ["s.server_id = @serverId"];
      if (o.state) where.push("s.state = @state");
      else if (!o.all) where.push("s.state NOT IN ('deleted','failed','expired')");
      const params = { serverId, state: o.state, limit: o.limit, offset: o.offset };
      const w = where.join(" AND ");
      const rows = prepared(`${SELECT} WHERE ${w} ORDER BY s.created_at DESC, s.id DESC LIMIT @limit OFFSET @offset`)
        .all(params) as Raw[];
      const total = (prepared(`SELECT count(*) AS n FROM snapshots s WHERE ${w}`).get(params) as { n: number }).n;
      return { rows: rows.map((r) => row(r)!), total };
    },
    /** How many of the server's snapshots still exist (what `list` shows): the limit's count. */
    liveCount(serverId: number): number {
      return liveCount.get(serverId) as number;
    },
    /** Names of the server's snapshots that still exist (for LXD's %d numbering: highest + 1). */
    liveNames(serverId: number): string[] {
      return liveNames.all(serverId) as string[];
    },
    /** Retention's input: every done snapshot whose expiry has passed, lean (no JSON columns) for speed. */
    expired(at: number): ExpiredRef[] {
      return expiredStmt.all(at) as ExpiredRef[];
    },
    /** The same for one server, oldest expiry first, filtered in SQLite (not every server's rows read). */
    expiredOf(serverId: number, at: number): ExpiredRef[] {
      return expiredOfStmt.all(at, serverId) as ExpiredRef[];
    },
    /** The server's done and broken snapshots, oldest first: what a whole-store verify (verify --target local) reads. */
    verifiable(serverId: number): SnapshotRow[] {
      return (verifiable.all(serverId) as Raw[]).map((r) => row(r)!);
    },
    /** Snapshots some writer or deleter was working on: after a crash, reconciliation decides their fate. */
    unfinished(): SnapshotRow[] {
      return (db.prepare(`${SELECT} WHERE s.state IN ('pending','running','deleting')`).all() as Raw[]).map((r) => row(r)!);
    },
  };
}
export type SnapshotRepo = ReturnType<typeof snapshotRepo>;
