import type { Interface } from "node:readline";
import type { Sink } from "./console-chat.ts";

/**
 * Where the console prints. At a terminal, readline owns the bottom line (the prompt and what is being
 * typed): a reply, a progress line or a log line is printed above it, and the prompt is drawn again with
 * the partly typed line and the cursor where they were, so background work never tears what you type.
 */
export function createScreen() {
  let prompt: Interface | null = null;
  return {
    /** A sink onto `out`; `tty`: out is the terminal readline draws on (stderr may be a file). */
    sink(out: Sink, tty: boolean): Sink {
      return {
        write(text) {
          if (!prompt || !tty) return out.write(text);
          out.write(`\r\x1b[K${text}`); // back to column 0 and clear the prompt line, then print
          prompt.prompt(true);
        },
      };
    },
    attach(rl: Interface): void {
      prompt = rl;
    },
    detach(): void {
      prompt = null;
    },
  };
}
export type Screen = ReturnType<typeof createScreen>;
