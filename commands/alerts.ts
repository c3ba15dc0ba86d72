import type { Command } from "./types.ts";
import { expectPositionals } from "./parse.ts";
import { positiveInt } from "./lookup.ts";
import { PAGE_SIZE } from "../src/replies/snapshot-replies.ts";
import { openAlertsList } from "../src/replies/alert-replies.ts";
import { UserError } from "../src/errors.ts";

const usage = "alerts [--page <n>]";

export const alerts: Command = {
  name: "alerts",
  usage,
  summary: "list the open alerts, the most recently seen first, 50 a page",
  role: "operator",
  flags: { page: "value" },
  run(ctx, args) {
    expectPositionals(args, 0, 0, usage);
    const page = positiveInt(args.flags.page, "--page", 1_000_000, 1);
    const { rows, total } = ctx.ledger.alerts.openPage(PAGE_SIZE, (page - 1) * PAGE_SIZE);
    if (rows.length === 0 && total > 0) throw new UserError("bad_page", `there are only ${Math.ceil(total / PAGE_SIZE)} page(s) of open alerts: try alerts`);
    return openAlertsList(rows, { page, total, command: "alerts" }, ctx.clock.now());
  },
};
