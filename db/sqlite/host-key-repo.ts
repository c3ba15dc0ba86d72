import type { Db } from "./open-db.ts";

export interface HostKeyInput {
  type: string;
  fingerprint: string;
  publicKey: string;
}

export interface SharedKey {
  fingerprint: string;
  type: string;
  servers: string[]; // every active server presenting it, sorted
}

export function hostKeyRepo(db: Db, now: () => number) {
  // Asked before every operation (a blocked server is refused): prepared once.
  const blockedStmt = db.prepare("SELECT 1 FROM host_keys WHERE server_id = ? AND state = 'pending_accept' LIMIT 1");
  const pendingStmt = db.prepare(
    "SELECT key_type AS type, fingerprint, public_key AS publicKey FROM host_keys WHERE server_id = ? AND state = 'pending_accept' ORDER BY id",
  );
  return {
    /** Records what a server presents now: keys it no longer has become 'replaced', new ones 'current'. */
    record(serverId: number, keys: HostKeyInput[]): void {
      db.transaction(() => {
        const prints = new Set(keys.map((k) => k.fingerprint));
        const current = db.prepare("SELECT id, fingerprint FROM host_keys WHERE server_id = ? AND state = 'current'").all(serverId) as Array<{ id: number; fingerprint: string }>;
        for (const c of current) if (!prints.has(c.fingerprint)) db.prepare("UPDATE host_keys SET state = 'replaced' WHERE id = ?").run(c.id);
        const have = new Set(current.map((c) => c.fingerprint));
        const insert = db.prepare("INSERT INTO host_keys (server_id, key_type, fingerprint, public_key, state, recorded_at) VALUES (?, ?, ?, ?, 'current', ?)");
        for (const k of keys) if (!have.has(k.fingerprint)) insert.run(serverId, k.type, k.fingerprint, k.publicKey, now());
      })();
    },
    current(serverId: number): HostKeyInput[] {
      return db
        .prepare("SELECT key_type AS type, fingerprint, public_key AS publicKey FROM host_keys WHERE server_id = ? AND state = 'current' ORDER BY key_type")
        .all(serverId) as HostKeyInput[];
    },
    /** A changed key was presented: the server is blocked until an admin accepts it (replaces earlier pending ones). */
    block(serverId: number, presented: HostKeyInput[]): void {
      db.transaction(() => {
        db.prepare("DELETE FROM host_keys WHERE server_id = ? AND state = 'pending_accept'").run(serverId);
        const insert = db.prepare("INSERT INTO host_keys (server_id, key_type, fingerprint, public_key, state, recorded_at) VALUES (?, ?, ?, ?, 'pending_accept', ?)");
        const keys = presented.length ? presented : [{ type: "unknown", fingerprint: "unknown", publicKey: "" }];
        for (const k of keys) insert.run(serverId, k.type, k.fingerprint, k.publicKey || null, now());
      })();
    },
    /** The presented keys waiting for an admin; empty when the server is not blocked. */
    pending(serverId: number): HostKeyInput[] {
      return pendingStmt.all(serverId) as HostKeyInput[];
    },
    /** Which of these servers are blocked (presented keys waiting for an admin). */
    blockedAmong(serverIds: number[]): Set<number> {
      return new Set(serverIds.filter((id) => blockedStmt.get(id) !== undefined));
    },
    /** The admin accepted: the accepted keys become current, the old ones replaced, nothing pending. */
    accept(serverId: number, keys: HostKeyInput[]): void {
      db.transaction(() => {
        db.prepare("UPDATE host_keys SET state = 'replaced' WHERE server_id = ? AND state = 'pending_accept'").run(serverId);
        this.record(serverId, keys);
      })();
    },
    /** Host keys presented by more than one active server: servers cloned from one snapshot. */
    shared(): SharedKey[] {
      const rows = db
        .prepare(`SELECT k.fingerprint, k.key_type AS type, group_concat(s.name, ',') AS names FROM host_keys k JOIN servers s ON s.id = k.server_id
          WHERE k.state = 'current' AND s.removed_at IS NULL GROUP BY k.fingerprint HAVING count(DISTINCT k.server_id) > 1`)
        .all() as Array<{ fingerprint: string; type: string; names: string }>;
      return rows.map((r) => ({ fingerprint: r.fingerprint, type: r.type, servers: [...new Set(r.names.split(","))].sort() }));
    },
  };
}
export type HostKeyRepo = ReturnType<typeof hostKeyRepo>;
