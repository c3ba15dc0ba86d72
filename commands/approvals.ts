import type { Command } from "./types.ts";
import type { ApprovalRow, OperationRow } from "../db/types.ts";
import { expectPositionals } from "./parse.ts";
import { pendingApprovalsList } from "../src/replies/approval-replies.ts";

const usage = "approvals";

export const approvals: Command = {
  name: "approvals",
  usage,
  summary: "the pending approval requests: what, who asked, when they expire",
  role: "operator",
  async run(ctx, args) {
    expectPositionals(args, 0, 0, usage);
    const items: { approval: ApprovalRow; op: OperationRow }[] = [];
    for (const approval of await ctx.ledger.approvals.pending()) items.push({ approval, op: (await ctx.ledger.operations.get(approval.operation_id))! });
    return pendingApprovalsList(items, ctx.clock.now());
  },
};
