import type { RepoContext } from "./context.ts";
import type { HostKeyInput, HostKeyRepo } from "../ledger.ts";
import type { Session } from "./session.ts";

const KEYS = "SELECT key_type AS type, fingerprint, public_key AS \"publicKey\" FROM host_keys";
const INSERT = "INSERT INTO host_keys (server_id, key_type, fingerprint, public_key, state, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)";

export function hostKeyRepo({ s, now }: RepoContext): HostKeyRepo {
  /** Within t (a transaction): keys no longer presented become replaced, new ones current. */
  async function record(t: Session, serverId: number, keys: HostKeyInput[]): Promise<void> {
    const prints = new Set(keys.map((k) => k.fingerprint));
    const current = await t.rows<{ id: number; fingerprint: string }>("SELECT id, fingerprint FROM host_keys WHERE server_id = $1 AND state = 'current' FOR UPDATE", [serverId]);
    const gone = current.filter((c) => !prints.has(c.fingerprint)).map((c) => c.id);
    if (gone.length) await t.run("UPDATE host_keys SET state = 'replaced' WHERE id = ANY($1::bigint[])", [gone]);
    const have = new Set(current.map((c) => c.fingerprint));
    for (const k of keys) if (!have.has(k.fingerprint)) await t.run(INSERT, [serverId, k.type, k.fingerprint, k.publicKey, "current", now()]);
  }
  return {
    record: (serverId, keys) => s.atomic((t) => record(t, serverId, keys)),
    current: (serverId) => s.rows<HostKeyInput>(`${KEYS} WHERE server_id = $1 AND state = 'current' ORDER BY key_type`, [serverId]),
    async block(serverId, presented) {
      await s.atomic(async (t) => {
        await t.run("DELETE FROM host_keys WHERE server_id = $1 AND state = 'pending_accept'", [serverId]);
        const keys = presented.length ? presented : [{ type: "unknown", fingerprint: "unknown", publicKey: "" }];
        for (const k of keys) await t.run(INSERT, [serverId, k.type, k.fingerprint, k.publicKey || null, "pending_accept", now()]);
      });
    },
    async blockedAmong(serverIds) {
      const rows = await s.rows<{ server_id: number }>("SELECT DISTINCT server_id FROM host_keys WHERE server_id = ANY($1::bigint[]) AND state = 'pending_accept'", [serverIds]);
      return new Set(rows.map((r) => r.server_id));
    },
    pending: (serverId) => s.rows<HostKeyInput>(`${KEYS} WHERE server_id = $1 AND state = 'pending_accept' ORDER BY id`, [serverId]),
    async accept(serverId, keys) {
      await s.atomic(async (t) => {
        await t.run("UPDATE host_keys SET state = 'replaced' WHERE server_id = $1 AND state = 'pending_accept'", [serverId]);
        await record(t, serverId, keys);
      });
    },
    async shared() {
      // SQLite reads the key type of any row of the group; every row of one fingerprint has the same type, so min() is that one.
      const rows = await s.rows<{ fingerprint: string; type: string; names: string[] }>(
        `SELECT k.fingerprint, min(k.key_type) AS type, array_agg(DISTINCT s.name) AS names FROM host_keys k JOIN servers s ON s.id = k.server_id
         WHERE k.state = 'current' AND s.removed_at IS NULL GROUP BY k.fingerprint HAVING count(DISTINCT k.server_id) > 1 ORDER BY k.fingerprint`,
      );
      return rows.map((r) => ({ fingerprint: r.fingerprint, type: r.type, servers: [...r.names].sort() }));
    },
  };
}
