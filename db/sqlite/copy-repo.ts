import { statementCache, transactional } from "./statements.ts";
import type { Db } from "./open-db.ts";
import type { CopyRow } from "../types.ts";
import { assertTransition, copyMachine, type CopyState } from "../states.ts";
import { SnapbotError } from "../../src/errors.ts";

// Copies of stored snapshots on storage targets (migration 014): one row per copy, its own state machine, guarded
// transitions as snapshots have. Live copies (running, done, broken, deleting) hold a place on their target.

const SELECT = "SELECT c.*, v.name AS server FROM copies c JOIN servers v ON v.id = c.server_id";
const LIVE = "('running','done','broken','deleting')";

export interface NewCopy {
  snapshot_id: number;
  server_id: number;
  name: string;
  target: string;
  created_by: string | null;
  snapshot_created_at: number;
}

export type CopyChanges = Partial<
  Pick<CopyRow, "location" | "size" | "checksum" | "parts" | "error" | "operation_id" | "finished_at" | "verified_at" | "deleted_at" | "deleted_by">
>;

/** What the target's retention plans over: the planner's input shape (src/retention/apply-policy.ts). */
export interface CopyCandidate {
  id: number;
  snapshot_id: number;
  name: string;
  createdAt: number;
  state: "done" | "broken";
}

export function copyRepo(db: Db, now: () => number) {
  const inTx = transactional(db);
  const prepared = statementCache(db);
  const byId = db.prepare(`${SELECT} WHERE c.id = ?`);
  const liveOf = db.prepare(`${SELECT} WHERE c.snapshot_id = ? AND c.target = ? AND c.state IN ${LIVE}`);
  const liveAt = db.prepare(`${SELECT} WHERE c.server_id = ? AND c.name = ? AND c.target = ? AND c.state IN ${LIVE}`);
  const ofSnapshot = db.prepare(`${SELECT} WHERE c.snapshot_id = ? ORDER BY c.id DESC`);
  const insert = db.prepare(`INSERT INTO copies (snapshot_id, server_id, name, target, state, created_by, created_at, snapshot_created_at)
    VALUES (@snapshot_id, @server_id, @name, @target, 'running', @created_by, @created_at, @snapshot_created_at)`);
  const candidates = db.prepare(`SELECT id, snapshot_id, name, snapshot_created_at AS createdAt, state FROM copies INDEXED BY copies_for_retention
    WHERE target = ? AND server_id = ? AND state IN ('done','broken') ORDER BY snapshot_created_at, id`);
  const serversOn = db.prepare(`SELECT DISTINCT v.name FROM copies c JOIN servers v ON v.id = c.server_id
    WHERE c.target = ? AND c.state IN ('done','broken') ORDER BY v.name`).pluck();
  const unfinished = db.prepare(`${SELECT} WHERE c.state IN ('running','deleting')`);
  const onTarget = db.prepare(`${SELECT} WHERE c.target = ? AND c.state IN ('done','broken') ORDER BY c.id`);

  return {
    get(id: number): CopyRow | undefined {
      return byId.get(id) as CopyRow | undefined;
    },
    /** A new copy, running; a live copy already holding its place on the target makes it fail (copy_exists). */
    insert(c: NewCopy): CopyRow {
      try {
        const info = insert.run({ ...c, created_at: now() });
        return this.get(Number(info.lastInsertRowid))!;
      } catch (e) {
        if ((e as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE")
          throw new SnapbotError("copy_exists", `${c.target} already holds a copy named ${c.name} of this server`, { cause: e });
        throw e;
      }
    },
    /** The one way a copy changes state: the machine checked, the UPDATE guarded on the state read. */
    transition(id: number, to: CopyState, changes: CopyChanges = {}): CopyRow {
      return inTx(() => {
        const cur = this.get(id);
        if (!cur) throw new SnapbotError("unknown_copy", `copy #${id} does not exist`);
        assertTransition(copyMachine, "copy", id, cur.state, to);
        const sets = ["state = @to", ...Object.keys(changes).map((k) => `${k} = @${k}`)];
        const r = prepared(`UPDATE copies SET ${sets.join(", ")} WHERE id = @id AND state = @from`).run({ ...changes, id, from: cur.state, to });
        if (r.changes !== 1) throw new SnapbotError("concurrent_change", `copy #${id} changed while being updated`);
        return this.get(id)!;
      });
    },
    /** Fields that change no state (where it is once claimed, when it was last verified). */
    annotate(id: number, changes: Pick<CopyChanges, "location" | "verified_at" | "error" | "operation_id">): void {
      const sets = Object.keys(changes).map((k) => `${k} = @${k}`);
      if (sets.length) prepared(`UPDATE copies SET ${sets.join(", ")} WHERE id = @id`).run({ ...changes, id });
    },
    /** The snapshot's live copy on the target (running, done, broken or being removed), if any. */
    live(snapshotId: number, target: string): CopyRow | undefined {
      return liveOf.get(snapshotId, target) as CopyRow | undefined;
    },
    /** The live copy holding <server>/<name> on the target, whichever snapshot of that name it came from. */
    liveAt(serverId: number, name: string, target: string): CopyRow | undefined {
      return liveAt.get(serverId, name, target) as CopyRow | undefined;
    },
    /** Every copy of the snapshot ever made, newest first (failed and removed ones too). */
    ofSnapshot(snapshotId: number): CopyRow[] {
      return ofSnapshot.all(snapshotId) as CopyRow[];
    },
    /** One server's done and broken copies on a target, oldest first: the target's retention input. */
    candidates(target: string, serverId: number): CopyCandidate[] {
      return candidates.all(target, serverId) as CopyCandidate[];
    },
    /** Servers with done or broken copies on the target (registered or not: copies outlive their server's registration). */
    serversOn(target: string): string[] {
      return serversOn.all(target) as string[];
    },
    /** Every done and broken copy on the target, whichever server (registered or not): what verify --target reads. */
    onTarget(target: string): CopyRow[] {
      return onTarget.all(target) as CopyRow[];
    },
    /** Copies some writer or remover was working on: after a crash, start-up reconciliation settles them. */
    unfinished(): CopyRow[] {
      return unfinished.all() as CopyRow[];
    },
  };
}
export type CopyRepo = ReturnType<typeof copyRepo>;
