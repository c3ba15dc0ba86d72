import type { Button } from "../../reply.ts";

/** A message that has (or had, before an update took them away) buttons. */
export interface Clickable {
  title: string;
  buttons: Button[];
  was?: Button[];
}

export type ClickProblem =
  | { kind: "usage" }
  | { kind: "no_message"; message: number; count: number }
  | { kind: "no_button"; message: number; target: Clickable | undefined; button: number }
  | { kind: "last"; message: number; target: Clickable | undefined; button: number; older?: { message: number; title: string } };

const HOW = "type /click <n> for button [n] of the last reply, or /click <m>.<n> as shown in [brackets]";
const list = (message: number, buttons: Button[]) => buttons.map((b, i) => `[${message}.${i + 1}] ${b.label}`).join(" ");
const short = (title: string) => (title.length > 50 ? `${title.slice(0, 49)}…` : title);

/** One line saying why nothing was pressed: what the number referred to, and what to type instead. */
export function clickError(p: ClickProblem): string {
  switch (p.kind) {
    case "usage":
      return `✖ usage: ${HOW}`;
    case "no_message":
      return p.count === 0 ? `✖ there is no message ${p.message} yet: ${HOW}` : `✖ there is no message ${p.message} (the last is ${p.count}): ${HOW}`;
    case "no_button":
      return `✖ message ${p.message} ${buttonsOf(p.message, p.target, p.button)}${p.target ? "" : `: ${HOW}`}`;
    case "last": {
      const what = p.message === 0 ? "✖ no reply has had buttons yet" : `✖ the last reply (message ${p.message}) ${buttonsOf(p.message, p.target, p.button)}`;
      if (!p.older) return p.target?.buttons.length ? what : `${what}: ${HOW}`;
      const { message, title } = p.older;
      return `${what}; button ${p.button} was on message ${message} (${short(title)}), which is no longer the last reply: type /click ${message}.${p.button} to press it`;
    }
  }
}

function buttonsOf(message: number, target: Clickable | undefined, button: number): string {
  if (target?.buttons.length) return `has no button ${button}: its buttons are ${list(message, target.buttons)}`;
  if (target?.was?.length) return `has no buttons any more (it was updated): they were ${list(message, target.was)}`;
  return "has no buttons";
}
