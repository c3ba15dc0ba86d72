import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { MAX_ID, positiveInt } from "./lookup.ts";
import { jobReply } from "../src/replies/job-replies.ts";
import { actionOf, deniedApproval } from "../src/replies/approval-replies.ts";
import { formatAge } from "../src/duration.ts";
import { mention } from "../src/replies/mention.ts";

// approve <id> / deny <id>: what the Approve and Deny buttons run, as the person who clicks.
function decideCommand(decision: "approve" | "deny"): Command {
  const usage = `${decision} <id>`;
  return {
    name: decision,
    usage,
    summary: `${decision} a pending request by its id (see approvals; approvers, never your own request)`,
    role: "approver",
    async run(ctx, args) {
      const [raw] = expectPositionals(args, 1, 1, usage);
      const id = positiveInt(raw, `${decision} takes an approval id`, MAX_ID, 0, "type approvals to see them");
      const d = await ctx.engine.approvals.decide(id, ctx.user, decision);
      const action = actionOf(d.op);
      if (d.decision === "denied") return deniedApproval(d.approval, d.op, action);
      const reply = jobReply(d.handle.job, {
        what: `${action}, approved by ${mention(ctx.user)}`,
        who: d.op.requested_by,
        opId: d.op.id,
        now: ctx.clock.now,
        done: (summary, tookMs) => ({
          tone: "success",
          title: `${action} done in ${formatAge(tookMs)} (operation #${d.op.id}, asked by ${mention(d.op.requested_by)}, approved by ${mention(ctx.user)})`,
          lines: [summary],
        }),
      });
      return { ...reply, replaces: true };
    },
  };
}

export const approve = decideCommand("approve");
export const deny = decideCommand("deny");
