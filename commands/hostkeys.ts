import type { Command, CommandContext } from "./types.ts";
import type { Reply } from "../src/reply.ts";
import { expectPositionals } from "./parse.ts";
import { serverOf } from "./lookup.ts";
import { requireRole } from "./roles.ts";
import { UserError } from "../src/errors.ts";
import { capabilityOf } from "../src/engine/operations/snapshot-handle.ts";
import { approvalRequest } from "../src/replies/approval-replies.ts";
import { mention } from "../src/replies/mention.ts";
import { hostKeyScanReply } from "../src/replies/host-key-replies.ts";

const usage = "hostkeys [scan | accept <server> | regen <server>]";

export const hostkeys: Command = {
  name: "hostkeys",
  usage,
  summary: "find servers sharing SSH host keys (scan), regenerate a server's (regen, needs approval), accept a changed one (accept, admins)",
  role: "operator",
  async run(ctx, args) {
    const [sub = "scan", name] = expectPositionals(args, 0, 2, usage);
    if (sub === "scan" && name === undefined) return scan(ctx);
    if (sub === "regen" && name !== undefined) return regen(ctx, name);
    if (sub === "accept" && name !== undefined) {
      requireRole(ctx.config, ctx.user, "admin", "hostkeys accept");
      return accept(ctx, name);
    }
    throw new UserError("bad_subcommand", `usage: ${usage}`);
  },
};

async function scan(ctx: CommandContext): Promise<Reply> {
  return hostKeyScanReply(await ctx.engine.scanHostKeys());
}

async function regen(ctx: CommandContext, name: string): Promise<Reply> {
  const server = await serverOf(ctx, name);
  capabilityOf(ctx.drivers.get(server), "regenHostKeys", server);
  const { approval, op } = await ctx.engine.approvals.request({ kind: "hostkeys_regen", server, args: {}, user: ctx.user, channel: ctx.channel });
  const overwrites = `${server.name}'s SSH host keys (removed, regenerated with ssh-keygen -A, sshd restarted where it runs)`;
  const reply = approvalRequest({ approval, op, server, action: `hostkeys regen ${server.name}`, overwrites, now: ctx.clock.now() });
  return { ...reply, onPosted: (at) => ctx.ledger.approvals.setMessage(approval.id, at) };
}

async function accept(ctx: CommandContext, name: string): Promise<Reply> {
  const server = await serverOf(ctx, name);
  const keys = await ctx.engine.acceptHostKeys(server, { user: ctx.user, channel: ctx.channel });
  return {
    visibility: "channel",
    tone: "success",
    title: `${server.name}'s new SSH host key accepted by ${mention(ctx.user)}`,
    lines: [`recorded: ${keys.map((k) => `${k.type} ${k.fingerprint}`).join(", ")}`, `operations on ${server.name} run again`],
  };
}
