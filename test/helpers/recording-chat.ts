import type { ChatPort, MessageRef, Pacing } from "../../src/chat/chat-port.ts";
import type { Reply } from "../../src/reply.ts";
import { plainReply } from "./plain-reply.ts";

export interface RecordedCall {
  kind: "post" | "update";
  channel: string;
  ts: string;
  reply: Reply;
  /** A post in the thread of this message. */
  threadTs?: string;
  /** False when the call was made to fail (failNext). */
  ok: boolean;
}

/** A ChatPort that keeps what the engine posted and updated (as the console shows it), in order; it can be made to
 * fail, as a down chat does. */
export function recordingChat(o: { pacing?: Pacing; now?: () => number } = {}) {
  const calls: Array<RecordedCall & { at: number }> = [];
  const now = o.now ?? Date.now;
  let n = 0;
  let failing = 0;
  const port: ChatPort = {
    pacing: o.pacing,
    async post(channel, reply, options) {
      const ok = failing <= 0;
      failing--;
      const ts = ok ? `${++n}.000` : "";
      calls.push({ kind: "post", channel, ts, reply: plainReply(reply), threadTs: options?.threadTs, ok, at: now() });
      return ok ? { channel, ts } : null;
    },
    async update(ref: MessageRef, reply) {
      const ok = failing <= 0;
      failing--;
      calls.push({ kind: "update", channel: ref.channel, ts: ref.ts, reply: plainReply(reply), ok, at: now() });
      return ok;
    },
  };
  return {
    port,
    calls,
    /** The next n calls fail (post resolves null, update false). */
    failNext: (count: number) => void (failing = count),
  };
}
