import type { Command } from "./types.ts";
import type { OperationRow } from "../db/types.ts";
import { expectPositionals } from "./parse.ts";
import { historyServerOf, positiveInt } from "./lookup.ts";
import { clip, dash, utc } from "../src/replies/format.ts";
import { mention } from "../src/replies/mention.ts";
import { unregisteredLine } from "../src/replies/snapshot-replies.ts";

const usage = "audit [<server>] [--limit N]";

export const audit: Command = {
  name: "audit",
  usage,
  summary: "the audit log: who asked for what, and how it ended",
  role: "operator",
  readOnly: true,
  flags: { limit: "value" },
  async run(ctx, args) {
    const [name] = expectPositionals(args, 0, 1, usage);
    const server = name === undefined ? undefined : await historyServerOf(ctx, name);
    const limit = positiveInt(args.flags.limit, "--limit", 50, 20);
    const rows = await ctx.ledger.operations.list({ serverId: server?.id, limit });
    const scope = server ? server.name : "all servers";
    const lines = server && server.removed_at !== null ? [unregisteredLine(server)] : undefined;
    if (rows.length === 0)
      return { visibility: "ephemeral", tone: "info", title: `No operations yet on ${scope}`, ...(lines && { lines }) };
    return {
      visibility: "ephemeral",
      tone: "info",
      ...(lines && { lines }),
      title: `Audit log, ${scope}: last ${rows.length}`,
      table: {
        columns: ["#", "when", "who", "what", "state", "result"],
        rows: rows.map((o) => [
          String(o.id),
          utc(o.created_at),
          mention(o.requested_by) + (o.approved_by ? ` (${o.state === "denied" ? "denied" : "approved"} by ${mention(o.approved_by)})` : ""),
          whatOf(o),
          o.state,
          clip((o.error ?? o.result ?? "").split("\n")[0]!, 120),
        ]),
      },
    };
  },
};

/** "create web-1/s1"; an operation on no one server says its target: "verify_target offsite 2/7". */
function whatOf(o: OperationRow): string {
  const a = o.args ?? {};
  const str = (k: string) => (typeof a[k] === "string" ? (a[k] as string) : null);
  if (o.server === null && str("target")) return `${o.kind} ${str("target")}${str("slice") ? ` ${str("slice")}` : ""}`;
  const snap = str("name") ?? str("snapshot");
  return `${o.kind} ${dash(o.server)}${snap ? `/${snap}` : ""}`;
}
