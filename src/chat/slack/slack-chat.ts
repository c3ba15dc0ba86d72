import type { FoundPost } from "../chat-port.ts";
import type { Logger } from "pino";
import type { webApi } from "@slack/bolt";
import type { Reply } from "../../reply.ts";
import type { ChatPort, MessageRef, Pacing, PostOptions } from "../chat-port.ts";
import { blockKit } from "./block-kit.ts";
import { errorMessage } from "../../errors.ts";

export type Posted = { ok: true; ref: MessageRef } | { ok: false; error: string };

export interface SlackChat extends ChatPort {
  /** post, with the reason when it could not (the adapter tells the asker another way). */
  tryPost(channel: string, reply: Reply, options?: PostOptions): Promise<Posted>;
}

// chat.postMessage allows about one message per second per channel (short bursts are tolerated);
// chat.update is Tier 3, shared by the workspace: one update a second per message keeps well inside.
export const SLACK_PACING: Pacing = { postIntervalMs: 1000, updateIntervalMs: 1000 };

/** Slack's error code ("not_in_channel", "ratelimited") or the transport's message. */
export function slackError(e: unknown): string {
  const data = (e as { data?: { error?: unknown } }).data;
  return typeof data?.error === "string" ? data.error : errorMessage(e);
}

/**
 * The ChatPort over the Web API: chat.postMessage (thread_ts for a reply in a thread) and chat.update.
 * Nothing here throws: a message that cannot be posted is logged, and the operation behind it goes on
 * (the ledger has the outcome). A 429 is waited out and retried by the WebClient (web-client-options.ts).
 */
export function createSlackChat(client: webApi.WebClient, log: Logger): SlackChat {
  const tryPost = async (channel: string, reply: Reply, options: PostOptions = {}): Promise<Posted> => {
    try {
      const thread = options.threadTs ? { thread_ts: options.threadTs } : {};
      const metadata = options.metadata ? { metadata: options.metadata } : {};
      const res = await client.chat.postMessage({ channel, ...thread, ...metadata, ...blockKit(reply), unfurl_links: false, unfurl_media: false });
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
    pacing: SLACK_PACING,
    async post(channel, reply, options) {
      const res = await tryPost(channel, reply, options);
      return res.ok ? res.ref : null;
    },
    async findPosted(channel, eventType) {
      const res = await client.conversations.history({ channel, limit: 200, include_all_metadata: true });
      const found: FoundPost[] = [];
      for (const m of res.messages ?? []) {
        const meta = m.metadata as { event_type?: string; event_payload?: Record<string, string> } | undefined;
        if (m.ts && meta?.event_type === eventType) found.push({ ref: { channel, ts: m.ts }, payload: meta.event_payload ?? {} });
      }
      return found;
    },
    async update(ref, reply) {
      try {
        await client.chat.update({ channel: ref.channel, ts: ref.ts, ...blockKit(reply) });
        return true;
      } catch (e) {
        log.warn({ method: "chat.update", channel: ref.channel, ts: ref.ts, error: slackError(e), title: reply.title }, "could not update a Slack message");
        return false;
      }
    },
  };
}
