import type { Button, Reply } from "../../reply.ts";
import type { ChatPort, MessageRef } from "../chat-port.ts";
import { renderText, renderUpdate } from "./render-text.ts";
import { clickError, type Clickable } from "./click-errors.ts";

/** Where the console prints (stdout, bounded; at a terminal, above the prompt). */
export interface Sink {
  write(text: string): void;
}

export type Click = { command: string; message: number } | { error: string };

/**
 * The console's side of chat: prints replies, numbers every message (a message's number is its ts, so
 * "message 3 updated" and its buttons [3.1] [3.2] agree), and is the ChatPort the engine posts alerts and
 * approval updates through. A button is pressed by message and number, so a button that is no longer
 * there, or an alert that arrived meanwhile, is never pressed by mistake.
 */
export function createConsoleChat(output: Sink) {
  const clickable = new Map<number, Clickable>(); // messages that have or had buttons
  let count = 0;
  // The last reply to what was typed: a bare /click <n> presses its buttons. A refusal or a typo (an error
  // without buttons) does not move it, so the buttons you were about to press stay the default.
  let lastReply = 0;
  const say = (text: string) => output.write(`${text}\n`);
  const keep = (n: number, r: Reply) => {
    const known = clickable.get(n);
    const buttons: Button[] = r.buttons ?? [];
    if (!known && buttons.length === 0) return;
    clickable.set(n, { title: r.title, buttons, was: buttons.length === 0 && known?.buttons.length ? known.buttons : known?.was });
  };
  const render = (n: number, r: Reply, hint: "short" | "full") => {
    keep(n, r);
    return renderText(r, n, hint);
  };

  /**
   * Prints a reply and then its later versions; resolves when the last one is printed. The answer to a
   * click that `replaces` its message (Approve → "approved") keeps that message's number.
   */
  function show(r: Reply, clicked?: number): Promise<unknown> {
    const n = r.replaces && clicked ? clicked : ++count;
    if (r.tone !== "error" || r.buttons?.length) lastReply = n;
    say(render(n, r, "short"));
    // onPosted may record where the message is (an approval request's): what show returns waits for it too.
    const posted = r.visibility === "channel" ? Promise.resolve(r.onPosted?.({ channel: "console", ts: String(n) })) : Promise.resolve();
    if (!r.follow) return posted;
    let last = "";
    r.follow.subscribe((u) => {
      const text = u.tone === "progress" ? renderUpdate(u) : render(n, u, "short");
      if (text !== last) say(text);
      last = text;
    });
    return posted.then(() => r.follow!.done);
  }

  /** `/click 2` (button 2 of the last reply) or `/click 3.2` (button 2 of message 3). */
  function click(ref: string | undefined): Click {
    const m = /^(?:([1-9]\d{0,8})\.)?([1-9]\d{0,8})$/.exec(ref ?? "");
    if (!m) return { error: clickError({ kind: "usage" }) };
    const button = Number(m[2]);
    const message = m[1] === undefined ? lastReply : Number(m[1]);
    const target = clickable.get(message);
    const command = target?.buttons[button - 1]?.command;
    if (command) return { command, message };
    if (m[1] === undefined) return { error: clickError({ kind: "last", message, target, button, older: olderWith(button, message || count + 1) }) };
    if (message < 1 || message > count) return { error: clickError({ kind: "no_message", message, count }) };
    return { error: clickError({ kind: "no_button", message, target, button }) };
  }

  /** The newest earlier message with that button: what a stale bare number probably meant. */
  function olderWith(button: number, before: number): { message: number; title: string } | undefined {
    for (let n = before - 1; n >= 1; n--) {
      const c = clickable.get(n);
      if (c && c.buttons.length >= button) return { message: n, title: c.title };
    }
    return undefined;
  }

  const port: ChatPort = {
    async post(channel, reply, options) {
      const n = ++count;
      if (!options?.threadTs) say(`[#${channel}] ${render(n, reply, "full")}`);
      // A thread reply: marked and indented under the message it answers.
      else say(`  ↳ [#${channel} reply to message ${options.threadTs}] ${render(n, reply, "full").replace(/\n/g, "\n    ")}`);
      return { channel, ts: String(n) };
    },
    async update(ref: MessageRef, reply) {
      const n = Number(ref.ts);
      say(`[#${ref.channel} message ${ref.ts} updated] ${n >= 1 && n <= count ? render(n, reply, "full") : renderText(reply, 0, "none")}`);
    },
  };
  return { port, show, say, click };
}
export type ConsoleChat = ReturnType<typeof createConsoleChat>;
