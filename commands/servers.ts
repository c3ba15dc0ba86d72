import type { Command } from "./types.ts";
import { dash } from "../src/replies/format.ts";

function what(settings: Record<string, unknown>): string {
  const s = settings as { mode?: string; paths?: string[]; device?: string; instance?: string; image?: string; address?: string; host?: string };
  const target = s.paths?.join(", ") ?? s.device ?? s.instance ?? s.image ?? s.address ?? "";
  return [s.mode, target, s.host && s.host !== "local" ? `on ${s.host}` : ""].filter(Boolean).join(" ");
}

export const servers: Command = {
  name: "servers",
  usage: "servers",
  summary: "list the registered servers",
  role: "operator",
  readOnly: true,
  run(ctx) {
    const rows = ctx.ledger.servers.list();
    if (rows.length === 0) return { visibility: "ephemeral", tone: "info", title: "No servers yet", lines: ["Add one with: register <server> <driver> key=value…"] };
    return {
      visibility: "ephemeral",
      tone: "info",
      title: `${rows.length} server${rows.length === 1 ? "" : "s"}`,
      table: {
        columns: ["server", "driver", "what", "from", "status"],
        rows: rows.map((s) => [s.name, s.driver, dash(what(s.settings)), s.source, ctx.drivers.available(s.driver) ? "ready" : "driver not available yet"]),
      },
    };
  },
};
