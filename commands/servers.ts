import type { Command } from "./types.ts";
import type { ServerHealth } from "../db/ledger.ts";
import { dash } from "../src/replies/format.ts";
import { formatAge } from "../src/duration.ts";


/** blocked (a changed host key stops every operation) before failing (the last operation failed) before ok. */
function status(h: ServerHealth | undefined, name: string): string {
  if (h?.blocked) return `blocked: host key changed (hostkeys accept ${name})`;
  if (h?.lastFailed) return `failing: last ${h.lastFailed} failed (audit ${name})`;
  return "ok";
}

export const servers: Command = {
  name: "servers",
  usage: "servers",
  summary: "list the registered servers and how each is doing",
  role: "operator",
  readOnly: true,
  async run(ctx) {
    const rows = await ctx.ledger.servers.list();
    if (rows.length === 0) return { visibility: "ephemeral", tone: "info", title: "No servers yet", lines: ["Add one with: register <server> <driver> key=value…"] };
    const health = new Map((await ctx.ledger.stats.serverHealth()).map((h) => [h.server, h]));
    const now = ctx.clock.now();
    return {
      visibility: "ephemeral",
      tone: "info",
      title: `${rows.length} server${rows.length === 1 ? "" : "s"}`,
      table: {
        columns: ["server", "driver", "what", "from", "newest good", "open alerts", "status"],
        rows: rows.map((s) => {
          const h = health.get(s.name);
          const newest = h?.newestGood == null ? "none yet" : `${formatAge(now - h.newestGood)} ago`;
          const state = ctx.drivers.available(s.driver) ? status(h, s.name) : "driver not available yet";
          return [s.name, s.driver, dash(ctx.drivers.describe(s)), s.source, newest, String(h?.openAlerts ?? 0), state];
        }),
      },
    };
  },
};
