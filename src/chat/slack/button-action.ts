import type { AllMiddlewareArgs, BlockAction, BlockElementAction, SlackActionMiddlewareArgs } from "@slack/bolt";
import { runCommand } from "../../../commands/index.ts";
import { createRespond } from "./respond.ts";
import { deliverReply } from "./deliver-reply.ts";
import { firstDelivery, inBackground, type HandlerDeps } from "./handler-deps.ts";

type Args = SlackActionMiddlewareArgs<BlockAction<BlockElementAction>> & AllMiddlewareArgs;

/**
 * A snapbot button: its value is a command line, run as the person who clicked, in the channel of
 * the message. A replayed payload is acked and dropped; two real clicks are two requests (the engine
 * decides which one wins, e.g. one approval decision).
 */
export function buttonAction(deps: HandlerDeps) {
  return async ({ body, action, ack }: Args): Promise<void> => {
    const user = body.user.id;
    const key = body.trigger_id ? `trigger:${body.trigger_id}` : `action:${action.action_ts}:${user}`;
    if (!deps.recent.fresh(key)) {
      deps.log.info({ key }, "duplicate button delivery ignored");
      return ack();
    }
    await ack();
    const text = action.type === "button" ? action.value : undefined;
    if (!text) return;
    const container = body.container as { message_ts?: string; channel_id?: string; is_ephemeral?: boolean };
    const channel = body.channel?.id ?? container.channel_id ?? null;
    // Slack sends no `message` for a click on an ephemeral message: that one can only be replaced through response_url.
    const clicked = { ts: container.message_ts ?? body.message?.ts, ephemeral: container.is_ephemeral === true || !body.message };
    inBackground(deps, { user, channel, text }, async () => {
      if (!(await firstDelivery(deps, key))) return;
      const reply = await runCommand(deps.app, { user, channel, text });
      await deliverReply(deps, { channel, respond: createRespond(body.response_url, deps.log, deps.respondTimeoutMs), clicked }, reply);
    });
  };
}
