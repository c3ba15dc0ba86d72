import type { Reply } from "../../reply.ts";
import type { MessageRef } from "../chat-port.ts";
import type { SlackChat } from "./slack-chat.ts";
import type { Respond } from "./respond.ts";
import { blockKit } from "./block-kit.ts";
import { followMessage } from "./follow-message.ts";

/** Where a reply goes back to: the request's channel and response_url, and for a click, the message clicked. */
export interface Origin {
  channel: string | null;
  respond: Respond;
  clicked?: { ts: string | undefined; ephemeral: boolean };
}

export interface DeliverDeps {
  chat: SlackChat;
  /** Progress updates to one message: at most one per this many ms. */
  updateIntervalMs: number;
}

/**
 * A Reply's way into Slack. Quick answers are ephemeral through response_url; long work and approvals
 * are channel messages through the Web API (response_url allows 5 uses in 30 minutes), updated in place
 * as the work goes on; a reply that `replaces` becomes the new version of the message clicked.
 */
export async function deliverReply(deps: DeliverDeps, origin: Origin, reply: Reply): Promise<void> {
  const { clicked, channel } = origin;
  if (reply.replaces && clicked && !clicked.ephemeral && clicked.ts && channel) return replaceMessage(deps, { channel, ts: clicked.ts }, reply);
  if (reply.visibility === "channel" && !(reply.replaces && clicked?.ephemeral)) return postInChannel(deps, origin, reply);
  // A slash command's answer replaces its "working on it" line; a click on an ephemeral message (a list
  // page, Next) replaces that message unless the answer is an error about the click. On a channel
  // message, an ephemeral answer goes to the clicker alone and changes nothing else.
  const replace = clicked ? clicked.ephemeral && (!!reply.replaces || reply.tone !== "error") : true;
  return answerEphemerally(origin.respond, reply, replace);
}

async function replaceMessage(deps: DeliverDeps, ref: MessageRef, reply: Reply): Promise<void> {
  await deps.chat.update(ref, reply);
  await reply.onPosted?.(ref); // may record where the message is (an approval request's)
  if (reply.follow) await followMessage(reply.follow, (r) => deps.chat.update(ref, r), deps.updateIntervalMs);
}

async function postInChannel(deps: DeliverDeps, origin: Origin, reply: Reply): Promise<void> {
  const posted = origin.channel ? await deps.chat.tryPost(origin.channel, reply) : { ok: false as const, error: "no channel" };
  if (posted.ok) {
    await reply.onPosted?.(posted.ref);
    if (reply.follow) await followMessage(reply.follow, (r) => deps.chat.update(posted.ref, r), deps.updateIntervalMs);
    return;
  }
  // The asker is still told, privately: the work goes on, and its result follows the same way.
  const note = `(not posted in the channel: ${posted.error}. Invite the bot with /invite, or use a channel it is in.)`;
  const withNote = (r: Reply): Reply => ({ ...r, lines: [...(r.lines ?? []), note] });
  await answerEphemerally(origin.respond, withNote({ ...reply, follow: undefined }), !origin.clicked);
  if (reply.follow) await answerEphemerally(origin.respond, withNote(await reply.follow.done), !origin.clicked);
}

/** Through response_url; a follow sends only its final version (5 uses per response_url). */
async function answerEphemerally(respond: Respond, reply: Reply, replace: boolean): Promise<void> {
  await respond({ response_type: "ephemeral", replace_original: replace, ...blockKit(reply) });
  if (reply.follow) await respond({ response_type: "ephemeral", replace_original: replace, ...blockKit(await reply.follow.done) });
}
