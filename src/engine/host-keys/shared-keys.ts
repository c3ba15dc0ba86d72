import type { Ledger } from "../../../db/ledger.ts";
import type { ServerRow } from "../../../db/types.ts";
import type { Logger } from "pino";
import type { DriverRegistry } from "../../drivers/registry.ts";
import { errorMessage } from "../../errors.ts";

// Which servers presenting one host key are clones, and which one of each clone to regenerate. The one rule
// every reply uses (the alert, its button, hostkeys scan, clone): servers reached at the same endpoint are one
// machine, never a clone of each other; the machine registered first is the original; every other machine
// is a clone, regenerated through the first server registered for it (stable when more names are added).

export interface KeyGroup {
  fingerprint: string;
  type: string;
  /** Every server presenting the key, in registration order. */
  servers: string[];
  /** Those servers by machine, in registration order: the first machine is the original. */
  machines: string[][];
  /** One server per cloned machine (every machine but the first): the ones to regenerate. */
  regenerate: string[];
}

type Deps = { ledger: Ledger; drivers: DriverRegistry; log: Logger };

/** Every host key more than one server presents, grouped by machine; a key on one machine only is no clone. */
export async function keyGroups(deps: Deps): Promise<KeyGroup[]> {
  const endpoints = new Map<number, Promise<Set<string>>>();
  const endpointsOf = (s: ServerRow) => {
    if (!endpoints.has(s.id)) endpoints.set(s.id, readEndpoints(deps, s));
    return endpoints.get(s.id)!;
  };
  const groups: KeyGroup[] = [];
  for (const g of await deps.ledger.hostKeys.shared()) {
    const servers: ServerRow[] = [];
    for (const n of g.servers) {
      const s = await deps.ledger.servers.get(n);
      if (s) servers.push(s);
    }
    servers.sort((x, y) => x.id - y.id);
    const machines = await byMachine(servers, endpointsOf);
    groups.push({
      fingerprint: g.fingerprint,
      type: g.type,
      servers: servers.map((s) => s.name),
      machines: machines.map((m) => m.map((s) => s.name)),
      regenerate: machines.slice(1).map((m) => m[0]!.name),
    });
  }
  return groups;
}

/** The groups that are real clones: the key is on more than one machine. */
export const clonedKeys = (groups: KeyGroup[]): KeyGroup[] => groups.filter((g) => g.machines.length > 1);

/** Servers known under more than one name (each list once, in registration order). */
export function sameMachines(groups: KeyGroup[]): string[][] {
  const seen = new Map<string, string[]>();
  for (const m of groups.flatMap((g) => g.machines)) if (m.length > 1) seen.set(m.join(","), m);
  return [...seen.values()];
}

/** Servers in registration order, merged into one machine when their endpoints meet. */
async function byMachine(servers: ServerRow[], endpointsOf: (s: ServerRow) => Promise<Set<string>>): Promise<ServerRow[][]> {
  let machines: Array<{ servers: ServerRow[]; at: Set<string> }> = [];
  for (const s of servers) {
    const at = await endpointsOf(s);
    const meets = machines.filter((m) => [...at].some((e) => m.at.has(e)));
    const merged = { servers: [...meets.flatMap((m) => m.servers), s], at: new Set([...at, ...meets.flatMap((m) => [...m.at])]) };
    machines = [...machines.filter((m) => !meets.includes(m)), merged];
  }
  const byId = (x: ServerRow, y: ServerRow) => x.id - y.id;
  return machines.map((m) => m.servers.sort(byId)).sort((x, y) => byId(x[0]!, y[0]!));
}

async function readEndpoints(deps: Deps, server: ServerRow): Promise<Set<string>> {
  try {
    const driver = deps.drivers.get(server);
    return new Set((await driver.endpoints?.()) ?? []);
  } catch (e) {
    // Unknown endpoints: the server counts as a machine of its own (a shared key then alerts, the safe side).
    deps.log.warn({ server: server.name, err: errorMessage(e) }, "could not tell where the server is reached");
    return new Set();
  }
}
