import type { Follow, Reply } from "../../reply.ts";

/** What makes two versions the same message (functions and the follow itself are not content). */
const contentOf = (r: Reply): string => JSON.stringify({ ...r, follow: undefined, onPosted: undefined });

/**
 * Sends a reply's later versions to one posted message: at most one send per `intervalMs` (Slack's
 * chat.update rate limits, and a reader cannot follow faster), the latest version wins over older
 * unsent ones, and the final version (follow.done) is always sent. Resolves once the final one is.
 * The first send waits a full interval: the message was just posted.
 */
export function followMessage(follow: Follow, send: (r: Reply) => Promise<unknown>, intervalMs = 1000, now = () => performance.now()): Promise<void> {
  let pending: Reply | undefined;
  let lastSent = "";
  let lastAt = now();
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let final = false;
  let finish!: () => void;
  const finished = new Promise<void>((res) => (finish = res));

  const kick = () => {
    if (busy || timer) return;
    if (!pending) return void (final && finish());
    timer = setTimeout(flush, Math.max(0, lastAt + intervalMs - now()));
  };
  const flush = async () => {
    timer = undefined;
    const r = pending!;
    pending = undefined;
    const content = contentOf(r);
    if (content !== lastSent) {
      busy = true;
      lastSent = content;
      await send(r).catch(() => {}); // senders log their own failures; the next version may still get through
      lastAt = now();
      busy = false;
    }
    kick();
  };

  follow.subscribe((r) => {
    pending = r;
    kick();
  });
  follow.done.then(
    (r) => {
      final = true;
      pending = r;
      kick();
    },
    () => {
      final = true;
      kick();
    },
  );
  return finished;
}
