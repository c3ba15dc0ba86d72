import type { Command, CommandContext } from "./types.ts";
import type { Reply } from "../src/reply.ts";
import { expectPositionals } from "./parse.ts";
import { MAX_ID, positiveInt } from "./lookup.ts";
import { PAGE_SIZE } from "../src/replies/snapshot-replies.ts";
import { alertsList } from "../src/replies/alert-replies.ts";
import { UserError } from "../src/errors.ts";
import { mention } from "../src/replies/mention.ts";

const usage = "alerts [--all] [--page <n>] | alerts ack <id>";

export const alerts: Command = {
  name: "alerts",
  usage,
  summary: "the open alerts, the most recently seen first, 50 a page (--all: resolved ones too); ack <id> records that you saw one",
  role: "operator",
  readOnly: (args) => args.positionals.length === 0, // the list; a subcommand (ack) changes things
  flags: { page: "value", all: "bool" },
  async run(ctx, args) {
    if (args.positionals[0] === "ack") return ack(ctx, expectPositionals(args, 2, 2, usage)[1]!);
    expectPositionals(args, 0, 0, usage);
    const all = !!args.flags.all;
    const page = positiveInt(args.flags.page, "--page", 1_000_000, 1);
    const offset = (page - 1) * PAGE_SIZE;
    const { rows, total } = all ? await ctx.ledger.alerts.allPage(PAGE_SIZE, offset) : await ctx.ledger.alerts.openPage(PAGE_SIZE, offset);
    const command = all ? "alerts --all" : "alerts";
    if (rows.length === 0 && total > 0)
      throw new UserError("bad_page", `there are only ${Math.ceil(total / PAGE_SIZE)} page(s) of alerts: try ${command}`);
    return alertsList(rows, { page, total, command }, ctx.clock.now(), all);
  },
};

/** An acknowledged alert stays open until its condition clears; its message and the list say who saw it. */
async function ack(ctx: CommandContext, raw: string): Promise<Reply> {
  const id = positiveInt(raw, "alerts ack takes an alert id", MAX_ID, 0, "type alerts to see them");
  const a = await ctx.engine.ackAlert(id, { user: ctx.user, channel: ctx.channel });
  const title = `alert #${a.id} (${a.kind}) acknowledged by ${mention(ctx.user)}`;
  return { visibility: "ephemeral", tone: "success", title, lines: ["It stays open until its condition clears."] };
}
