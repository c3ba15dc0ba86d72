import type { Reply } from "../reply.ts";

// What the engine may do in chat on its own (alerts, approval expiry): post a channel message and
// update it later. Each adapter implements it (Slack: chat.postMessage / chat.update; console: print).

export interface MessageRef {
  channel: string;
  ts: string;
}

export interface ChatPort {
  /** Posts to a channel; resolves null when it could not (the failure is logged, never thrown). */
  post(channel: string, reply: Reply): Promise<MessageRef | null>;
  /** Replaces a posted message; failures are logged, never thrown. */
  update(ref: MessageRef, reply: Reply): Promise<void>;
}

/** For tests and tools that run the engine without a chat. */
export const silentChat: ChatPort = { post: async () => null, update: async () => {} };
