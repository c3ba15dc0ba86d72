import type { RepoContext } from "./context.ts";
import type { ServerRepo, ServerInput, ServerRow } from "../ledger.ts";
import { fromJson } from "../json.ts";
import { UserError } from "../../src/errors.ts";

type Raw = Omit<ServerRow, "settings"> & { settings: string };
const row = (r: Raw): ServerRow => ({ ...r, settings: fromJson<Record<string, unknown>>(r.settings) ?? {} });

// An upsert by name: a new server, or the row of that name revived (its id, history, cloned_from and created_at
// kept), as SQLite's read-then-write does, but as one statement, so two replicas syncing the config at once
// cannot both insert. `onlyRemoved` makes it refuse a live row (register): no row comes back then.
const PUT = (onlyRemoved: boolean) => `INSERT INTO servers (name, driver, settings, source, channel, registered_by, cloned_from, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
  ON CONFLICT (name) DO UPDATE SET driver = EXCLUDED.driver, settings = EXCLUDED.settings, source = EXCLUDED.source,
    channel = EXCLUDED.channel, registered_by = EXCLUDED.registered_by, removed_at = NULL
  ${onlyRemoved ? "WHERE servers.removed_at IS NOT NULL" : ""} RETURNING *`;

export function serverRepo({ s, now }: RepoContext): ServerRepo {
  const params = (input: ServerInput, source: ServerRow["source"], by: string | null, clonedFrom: number | null) => [
    input.name, input.driver, JSON.stringify(input.settings), source, input.channel ?? null, by, clonedFrom, now(),
  ];
  const find = async (name: string) => {
    const r = await s.one<Raw>("SELECT * FROM servers WHERE name = $1", [name]);
    return r && row(r);
  };
  const get = async (name: string) => {
    const r = await find(name);
    return r && r.removed_at === null ? r : undefined;
  };
  const exists = (name: string) => new UserError("server_exists", `${name} is already registered: pick another name or unregister it first`);

  return {
    get,
    async getMany(names) {
      const rows = await s.rows<Raw>("SELECT * FROM servers WHERE name = ANY($1::text[]) AND removed_at IS NULL", [names]);
      return new Map(rows.map((r) => [r.name, row(r)]));
    },
    find,
    async list() {
      return (await s.rows<Raw>("SELECT * FROM servers WHERE removed_at IS NULL ORDER BY name")).map(row);
    },
    async syncFromConfig(servers) {
      await s.atomic(async (t) => {
        for (const v of servers) await t.run(PUT(false), params(v, "config", null, null));
        await t.run("UPDATE servers SET removed_at = $1 WHERE source = 'config' AND removed_at IS NULL AND NOT (name = ANY($2::text[]))", [
          now(),
          servers.map((v) => v.name),
        ]);
      });
    },
    async register(input, by, clonedFrom = null) {
      if (await get(input.name)) throw exists(input.name);
      const r = await s.one<Raw>(PUT(true), params(input, "registered", by, clonedFrom));
      if (!r) throw exists(input.name); // registered by another replica since the read
      return row(r);
    },
    async unregister(name) {
      return s.atomic(async (t) => {
        const r = await t.one<Raw>("SELECT * FROM servers WHERE name = $1 AND removed_at IS NULL FOR UPDATE", [name]);
        if (!r) throw new UserError("unknown_server", `unknown server "${name}": type servers to see the registered ones`);
        if (r.source === "config") throw new UserError("config_server", `${name} comes from the config file: remove it there and restart snapbot`);
        await t.run("UPDATE servers SET removed_at = $1 WHERE id = $2", [now(), r.id]);
        return row(r);
      });
    },
  };
}
