import type { ServerRow, SnapshotRow } from "../db/types.ts";
import type { CommandContext } from "./types.ts";
import { checkName, parseSnapshotRef } from "../src/names.ts";
import { UserError } from "../src/errors.ts";

export async function serverOf(ctx: CommandContext, name: string): Promise<ServerRow> {
  const server = await ctx.ledger.servers.get(checkName("server", name));
  if (!server) {
    const known = (await ctx.ledger.servers.list()).map((s) => s.name).slice(0, 10);
    const hint = known.length ? `known: ${known.join(", ")}` : "none is registered yet: see register";
    throw new UserError("unknown_server", `unknown server "${name}" (${hint}); type servers for the list`);
  }
  return server;
}

/** For read-only commands (list, show, audit): a server unregistered since is found too, its history kept. */
export async function historyServerOf(ctx: CommandContext, name: string): Promise<ServerRow> {
  return (await ctx.ledger.servers.find(checkName("server", name))) ?? serverOf(ctx, name);
}

/** With `history`, a snapshot of an unregistered server is found too (read-only use). */
export async function snapshotOf(ctx: CommandContext, ref: string, usage: string, history = false): Promise<{ server: ServerRow; snapshot: SnapshotRow }> {
  const r = parseSnapshotRef(ref, usage);
  const server = history ? await historyServerOf(ctx, r.server) : await serverOf(ctx, r.server);
  const snapshot = await ctx.ledger.snapshots.find(server.id, r.snapshot);
  if (!snapshot)
    throw new UserError("unknown_snapshot", `${server.name} has no snapshot "${r.snapshot}": type list ${server.name} to see them`);
  return { server, snapshot };
}

/** The largest id positiveInt reads (ten digits): ledger ids stay far below it. */
export const MAX_ID = 9_999_999_999;

/**
 * A whole number from 1 to max, or `fallback` when absent. `label` says who takes it, in the user's words:
 * a flag ("--page") or a phrase ("approve takes an approval id"), which `hint` may follow ("type approvals to see them").
 */
export function positiveInt(value: string | true | undefined, label: string, max: number, fallback: number, hint?: string): number {
  if (value === undefined) return fallback;
  const n = typeof value === "string" && /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (n >= 1 && n <= max) return n;
  const text = label.startsWith("--") ? `${label} takes a whole number from 1 to ${max}, e.g. ${label} 20` : `${label}, a whole number like 12${hint ? `: ${hint}` : ""}`;
  throw new UserError("bad_number", text);
}
