import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from "@slack/bolt";
import { runCommand } from "../../../commands/index.ts";
import { clip } from "../../replies/format.ts";
import { escapeText } from "./block-kit.ts";
import { createRespond } from "./respond.ts";
import { deliverReply } from "./deliver-reply.ts";
import { firstDelivery, inBackground, type HandlerDeps } from "./handler-deps.ts";

type Args = SlackCommandMiddlewareArgs & AllMiddlewareArgs;

/**
 * `/snapshot <text>`: a duplicate delivery is acked and dropped; otherwise ack() first (Slack waits 3 s,
 * and a command may take hours), with a short line the asker sees at once, then the command runs.
 */
export function slashCommand(deps: HandlerDeps) {
  return async ({ command, ack, context }: Args): Promise<void> => {
    const key = command.trigger_id ? `trigger:${command.trigger_id}` : null;
    // Without a trigger_id a retry cannot be told from its first delivery: the first one ran.
    if (key ? !deps.recent.fresh(key) : (context.retryNum ?? 0) > 0) {
      deps.log.info({ key, retry: context.retryNum }, "duplicate /snapshot delivery ignored");
      return ack();
    }
    await ack({ response_type: "ephemeral", text: `:hourglass_flowing_sand: /snapshot ${escapeText(clip(command.text.trim(), 200))}` });
    const { user_id: user, channel_id: channel, text } = command;
    inBackground(deps, { user, channel, text }, async () => {
      if (key && !(await firstDelivery(deps, key))) return;
      const reply = await runCommand(deps.app, { user, channel, text });
      const respond = createRespond(command.response_url, deps.log, deps.respondTimeoutMs);
      await deliverReply(deps, { channel, respond }, reply);
    });
  };
}
