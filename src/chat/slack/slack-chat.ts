import type { Logger } from "pino";
import type { webApi } from "@slack/bolt";
import type { Reply } from "../../reply.ts";
import type { ChatPort, MessageRef } from "../chat-port.ts";
import { blockKit } from "./block-kit.ts";
import { errorMessage } from "../../errors.ts";

export type Posted = { ok: true; ref: MessageRef } | { ok: false; error: string };

export interface SlackChat extends ChatPort {
  /** post, with the reason when it could not (the adapter tells the asker another way). */
  tryPost(channel: string, reply: Reply): Promise<Posted>;
}

/** Slack's error code ("not_in_channel", "ratelimited") or the transport's message. */
export function slackError(e: unknown): string {
  const data = (e as { data?: { error?: unknown } }).data;
  return typeof data?.error === "string" ? data.error : errorMessage(e);
}

/**
 * The ChatPort over the Web API: chat.postMessage and chat.update. Nothing here throws: a message that
 * cannot be posted is logged, and the operation behind it goes on (the ledger has the outcome).
 */
export function createSlackChat(client: webApi.WebClient, log: Logger): SlackChat {
  const tryPost = async (channel: string, reply: Reply): Promise<Posted> => {
    try {
      const res = await client.chat.postMessage({ channel, ...blockKit(reply), unfurl_links: false, unfurl_media: false });
      if (!res.ts) throw new Error("chat.postMessage answered without a ts");
      return { ok: true, ref: { channel: res.channel ?? channel, ts: res.ts } };
    } catch (e) {
      const error = slackError(e);
      log.warn({ method: "chat.postMessage", channel, error, title: reply.title }, "could not post to Slack");
      return { ok: false, error };
    }
  };
  return {
    tryPost,
    async post(channel, reply) {
      const res = await tryPost(channel, reply);
      return res.ok ? res.ref : null;
    },
    async update(ref, reply) {
      try {
        await client.chat.update({ channel: ref.channel, ts: ref.ts, ...blockKit(reply) });
      } catch (e) {
        log.warn({ method: "chat.update", channel: ref.channel, ts: ref.ts, error: slackError(e), title: reply.title }, "could not update a Slack message");
      }
    },
  };
}
