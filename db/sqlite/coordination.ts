import { hostname } from "node:os";
import type { Coordination } from "../ledger.ts";

// One process on the embedded SQLite file: no other replica can hold a lease (the job runner's own map keeps this
// process's operations apart) and this process is always the leader. The same interface as PostgreSQL's rows.

export function soloCoordination(): Coordination {
  const replica = `${hostname()}/${process.pid}`;
  return {
    replica,
    shared: false,
    heartbeat: async () => ({ lapsed: false }),
    acquire: async (wanted) => wanted.map(() => null),
    attach: async () => undefined,
    release: async () => undefined,
    lead: async () => true,
    resign: async () => undefined,
    alive: async () => [replica],
    leave: async () => undefined,
  };
}
