import type { Db } from "./open-db.ts";
import type { ServerRow } from "../types.ts";
import { fromJson } from "../json.ts";
import { UserError } from "../../src/errors.ts";

type Raw = Omit<ServerRow, "settings"> & { settings: string };
const row = (r: Raw | undefined): ServerRow | undefined =>
  r && { ...r, settings: fromJson<Record<string, unknown>>(r.settings) ?? {} };

export interface ServerInput {
  name: string;
  driver: string;
  settings: Record<string, unknown>;
  channel?: string | null;
}

export function serverRepo(db: Db, now: () => number) {
  const byName = db.prepare("SELECT * FROM servers WHERE name = ?");
  const active = db.prepare("SELECT * FROM servers WHERE removed_at IS NULL ORDER BY name");
  const insert = db.prepare(`INSERT INTO servers (name, driver, settings, source, channel, registered_by, cloned_from, created_at)
    VALUES (@name, @driver, @settings, @source, @channel, @registered_by, @cloned_from, @created_at)`);
  const revive = db.prepare(`UPDATE servers SET driver=@driver, settings=@settings, source=@source, channel=@channel,
    registered_by=@registered_by, removed_at=NULL WHERE id=@id`);

  function put(input: ServerInput, source: ServerRow["source"], by: string | null, clonedFrom: number | null = null): ServerRow {
    const existing = row(byName.get(input.name) as Raw | undefined);
    const params = {
      name: input.name,
      driver: input.driver,
      settings: JSON.stringify(input.settings),
      source,
      channel: input.channel ?? null,
      registered_by: by,
    };
    if (existing) revive.run({ ...params, id: existing.id });
    else insert.run({ ...params, cloned_from: clonedFrom, created_at: now() });
    return row(byName.get(input.name) as Raw)!;
  }

  return {
    get(name: string): ServerRow | undefined {
      const r = row(byName.get(name) as Raw | undefined);
      return r && r.removed_at === null ? r : undefined;
    },
    /** The registered servers of these names, by name. */
    getMany(names: string[]): Map<string, ServerRow> {
      const out = new Map<string, ServerRow>();
      for (const name of names) {
        const r = this.get(name);
        if (r) out.set(name, r);
      }
      return out;
    },
    /** The server of that name, registered or unregistered since (its history stays): read-only commands. */
    find(name: string): ServerRow | undefined {
      return row(byName.get(name) as Raw | undefined);
    },
    list(): ServerRow[] {
      return (active.all() as Raw[]).map((r) => row(r)!);
    },
    /** Makes the ledger's config-sourced servers match the config file, in one transaction. */
    syncFromConfig(servers: ServerInput[]): void {
      db.transaction(() => {
        const names = new Set(servers.map((s) => s.name));
        for (const s of servers) put(s, "config", null);
        db.prepare("SELECT name FROM servers WHERE source='config' AND removed_at IS NULL")
          .all()
          .forEach((r) => {
            const name = (r as { name: string }).name;
            if (!names.has(name)) db.prepare("UPDATE servers SET removed_at=? WHERE name=?").run(now(), name);
          });
      })();
    },
    register(input: ServerInput, by: string, clonedFrom: number | null = null): ServerRow {
      return db.transaction(() => {
        if (this.get(input.name))
          throw new UserError("server_exists", `${input.name} is already registered: pick another name or unregister it first`);
        return put(input, "registered", by, clonedFrom);
      })();
    },
    unregister(name: string): ServerRow {
      return db.transaction(() => {
        const s = this.get(name);
        if (!s) throw new UserError("unknown_server", `unknown server "${name}": type servers to see the registered ones`);
        if (s.source === "config")
          throw new UserError("config_server", `${name} comes from the config file: remove it there and restart snapbot`);
        db.prepare("UPDATE servers SET removed_at=? WHERE id=?").run(now(), s.id);
        return s;
      })();
    },
  };
}
export type ServerRepo = ReturnType<typeof serverRepo>;
