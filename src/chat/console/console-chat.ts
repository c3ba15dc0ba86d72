import type { Writable } from "node:stream";
import type { Reply } from "../../reply.ts";
import type { ChatPort, MessageRef } from "../chat-port.ts";
import { renderText, renderUpdate } from "./render-text.ts";

/**
 * The console's side of chat: prints replies, numbers every button for /click <n> (replies and alerts
 * share one numbering), and is the ChatPort the engine posts alerts and approval updates through.
 */
export function createConsoleChat(output: Writable) {
  const buttons = new Map<number, string>();
  const byCommand = new Map<string, number>();
  let posted = 0;
  const say = (text: string) => void output.write(`${text}\n`);
  const number = (command: string) => {
    const known = byCommand.get(command);
    if (known) return known;
    const n = buttons.size + 1;
    buttons.set(n, command);
    byCommand.set(command, n);
    return n;
  };
  const render = (r: Reply) => renderText(r, number);

  /** Prints a reply and then its later versions; resolves when the last one is printed. */
  function show(r: Reply): Promise<unknown> {
    say(render(r));
    if (r.visibility === "channel") r.onPosted?.({ channel: "console", ts: String(++posted) });
    if (!r.follow) return Promise.resolve();
    let last = "";
    r.follow.subscribe((u) => {
      const text = u.tone === "progress" ? renderUpdate(u) : render(u);
      if (text !== last) say(text);
      last = text;
    });
    return r.follow.done;
  }

  const port: ChatPort = {
    async post(channel, reply, options) {
      const ts = String(++posted);
      if (!options?.threadTs) say(`[#${channel}] ${render(reply)}`);
      // A thread reply: marked and indented under the message it answers.
      else say(`  ↳ [#${channel} reply to message ${options.threadTs}] ${render(reply).replace(/\n/g, "\n    ")}`);
      return { channel, ts };
    },
    async update(ref: MessageRef, reply) {
      say(`[#${ref.channel} message ${ref.ts} updated] ${render(reply)}`);
    },
  };
  return { port, show, say, button: (n: number) => buttons.get(n) };
}
export type ConsoleChat = ReturnType<typeof createConsoleChat>;
