import type { ChatPort, MessageRef } from "../../src/chat/chat-port.ts";
import type { Reply } from "../../src/reply.ts";

/** A ChatPort that keeps what the engine posted and updated, in order. */
export function recordingChat() {
  const calls: Array<{ kind: "post" | "update"; channel: string; ts: string; reply: Reply }> = [];
  let n = 0;
  const port: ChatPort = {
    async post(channel, reply) {
      const ts = `${++n}.000`;
      calls.push({ kind: "post", channel, ts, reply });
      return { channel, ts };
    },
    async update(ref: MessageRef, reply) {
      calls.push({ kind: "update", channel: ref.channel, ts: ref.ts, reply });
    },
  };
  return { port, calls };
}
