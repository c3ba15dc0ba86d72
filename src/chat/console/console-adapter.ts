import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { Reply } from "../../reply.ts";
import type { Request } from "../../../commands/index.ts";
import type { ConsoleChat } from "./console-chat.ts";
import { NAME_PATTERN } from "../../names.ts";

export interface ConsoleOptions {
  input: Readable;
  chat: ConsoleChat;
  user: string;
  run(req: Request): Promise<Reply>;
  /** Resolves when every operation started so far has finished. */
  idle(): Promise<void>;
  /** Finish each operation before reading the next line: a piped script reads like a shell script. */
  waitEach: boolean;
}

/**
 * Console mode (DESIGN.md §3): one command a line, replies as text, buttons numbered for /click <n>,
 * /as <user> to change who types. At end of input it waits for the work it started, then returns.
 * On a terminal, long work goes on in the background while you type; on a pipe, each line waits.
 */
export async function runConsole(o: ConsoleOptions): Promise<void> {
  const { chat } = o;
  const follows: Promise<unknown>[] = [];
  let user = o.user;
  const handle = async (text: string) => {
    const done = chat.show(await o.run({ user, channel: "console", text }));
    follows.push(done);
    if (o.waitEach) await done;
  };

  const lines = createInterface({ input: o.input, crlfDelay: Infinity, terminal: false });
  for await (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const as = /^\/as(?:\s+(\S+))?$/.exec(line);
    const click = /^\/click(?:\s+(\S+))?$/.exec(line);
    if (as) {
      if (!as[1] || !NAME_PATTERN.test(as[1])) chat.say("✖ usage: /as <user>, e.g. /as U0ALICE");
      else chat.say(`• now typing as ${(user = as[1])}`);
    } else if (click) {
      const command = chat.button(Number(click[1]));
      if (!command) chat.say(`✖ no button ${click[1] ?? ""}: type /click <n> with a number shown in [brackets]`);
      else await handle(command);
    } else if (line.startsWith("/") && !line.startsWith("/snapshot")) {
      chat.say(`✖ unknown console command ${line.split(/\s/)[0]}: type /snapshot help, /as <user> or /click <n>`);
    } else await handle(line);
  }
  await o.idle();
  await Promise.allSettled(follows);
}
