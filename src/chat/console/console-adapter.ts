import { createInterface, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { Reply } from "../../reply.ts";
import type { Request } from "../../../commands/index.ts";
import type { ConsoleChat } from "./console-chat.ts";
import type { Screen } from "./screen.ts";
import { NAME_PATTERN } from "../../names.ts";

export const PROMPT = "snapbot> ";

export interface ConsoleOptions {
  input: Readable;
  chat: ConsoleChat;
  user: string;
  run(req: Request): Promise<Reply>;
  /** Resolves when every operation started so far has finished. */
  idle(): Promise<void>;
  /** Finish each operation before reading the next line: a piped script reads like a shell script. */
  waitEach: boolean;
  /** At a terminal: readline with a prompt, line editing and history, drawing on `output`. */
  terminal?: { output: Writable; screen: Screen; onInterrupt(): void };
  /** Stop reading input (a stop signal): the work already started is still waited for. */
  stop?: AbortSignal;
}

/**
 * Console mode (DESIGN.md §3): one command a line, replies as text, buttons numbered per message for
 * /click, /as <user> to change who types. At end of input (or a stop) it waits for the work it started.
 * On a terminal, long work goes on in the background while you type; on a pipe, each line waits.
 */
export async function runConsole(o: ConsoleOptions): Promise<void> {
  const { chat } = o;
  const follows: Promise<unknown>[] = [];
  let user = o.user;
  const handle = async (text: string, clicked?: number) => {
    const done = chat.show(await o.run({ user, channel: "console", text }), clicked);
    follows.push(done);
    if (o.waitEach) await done;
  };
  const lines = openInput(o);
  const close = () => lines.close();
  o.stop?.addEventListener("abort", close, { once: true });
  if (o.stop?.aborted) close();
  for await (const raw of lines) {
    if (o.stop?.aborted) break; // lines read before the stop are not run
    const line = raw.trim();
    if (line !== "" && !line.startsWith("#")) await dispatch(line);
    if (o.terminal && !o.stop?.aborted) lines.prompt();
  }
  o.stop?.removeEventListener("abort", close);
  o.terminal?.screen.detach();
  await o.idle();
  await Promise.allSettled(follows);

  async function dispatch(line: string): Promise<void> {
    const as = /^\/as(?:\s+(\S+))?$/.exec(line);
    const click = /^\/click(?:\s+(\S+))?$/.exec(line);
    if (as) {
      if (!as[1] || !NAME_PATTERN.test(as[1])) chat.say("✖ usage: /as <user>, e.g. /as U0ALICE");
      else chat.say(`• now typing as ${(user = as[1])}`);
    } else if (click) {
      const pressed = chat.click(click[1]);
      if ("error" in pressed) chat.say(pressed.error);
      else await handle(pressed.command, pressed.message);
    } else if (line.startsWith("/") && !line.startsWith("/snapshot")) {
      chat.say(`✖ unknown console command ${line.split(/\s/)[0]}: type /snapshot help, /as <user> or /click <n>`);
    } else await handle(line);
  }
}

function openInput(o: ConsoleOptions): Interface {
  if (!o.terminal) return createInterface({ input: o.input, crlfDelay: Infinity, terminal: false });
  const rl = createInterface({ input: o.input, output: o.terminal.output, terminal: true, prompt: PROMPT, historySize: 500, crlfDelay: Infinity });
  // In raw mode Ctrl-C is a key readline sees, not a signal: it stops the way SIGINT does.
  rl.on("SIGINT", o.terminal.onInterrupt);
  o.terminal.screen.attach(rl);
  rl.prompt();
  return rl;
}
