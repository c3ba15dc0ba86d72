import type { Reply } from "../reply.ts";

// What the engine may do in chat on its own (alerts, approval expiry): post a channel message (or a
// reply in its thread) and update it later. Each adapter implements it (Slack: chat.postMessage /
// chat.update; console: print).

export type { MessageRef } from "../reply.ts";
import type { MessageRef } from "../reply.ts";

export interface PostOptions {
  /** Post as a reply in the thread of this message (Slack's thread_ts) instead of a new message. */
  threadTs?: string;
  /** Kept with the message (Slack's message metadata), so it can be found again by `findPosted`. */
  metadata?: { event_type: string; event_payload: Record<string, string> };
}

/** A message found again by its metadata. */
export interface FoundPost {
  ref: MessageRef;
  payload: Record<string, string>;
}

/** How often a chat may be written to; the alert sink paces and coalesces to stay within it. */
export interface Pacing {
  /** Between two posts to one channel (Slack: about one message per second per channel). */
  postIntervalMs: number;
  /** Between two updates of one message. */
  updateIntervalMs: number;
}

export interface ChatPort {
  /** Posts to a channel; resolves null when it could not (the failure is logged, never thrown). */
  post(channel: string, reply: Reply, options?: PostOptions): Promise<MessageRef | null>;
  /** Replaces a posted message; failures are logged, never thrown, and resolve false. */
  update(ref: MessageRef, reply: Reply): Promise<boolean | void>;
  /** Absent: no limit worth pacing for (the console). */
  readonly pacing?: Pacing;
  /**
   * The channel's recent messages posted with this metadata event type, newest first (Slack: conversations.history
   * with include_all_metadata). Absent: the chat cannot look back (the console). Throws when it cannot answer.
   */
  findPosted?(channel: string, eventType: string): Promise<FoundPost[]>;
}

/** For tests and tools that run the engine without a chat. */
export const silentChat: ChatPort = { post: async () => null, update: async () => {} };
