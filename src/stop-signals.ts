// SIGTERM and SIGINT (and Ctrl-C typed at the console's prompt): the first asks for a graceful stop, the
// second forces one, a third exits at once. One listener stays for the whole run: with `once`, a second
// signal arriving before the next listener was added met the default action and killed the process
// without any cleanup.

export interface StopSignals {
  /** Resolves with the first signal. */
  first: Promise<NodeJS.Signals>;
  /** What the second signal does (a forced stop); without one, it exits at once. */
  onForce(fn: () => void): void;
  /** A signal that did not come from the OS: Ctrl-C read by readline at a terminal. */
  raise(signal: NodeJS.Signals): void;
}

export function listenForStop(exitNow: () => void): StopSignals {
  let count = 0;
  let force: (() => void) | undefined;
  let resolveFirst!: (s: NodeJS.Signals) => void;
  const first = new Promise<NodeJS.Signals>((res) => (resolveFirst = res));
  const raise = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) resolveFirst(signal);
    else if (count === 2 && force) force();
    else exitNow();
  };
  process.on("SIGTERM", raise).on("SIGINT", raise);
  return { first, onForce: (fn) => void (force = fn), raise };
}

/** True when the promise settled within ms. */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((res) => (timer = setTimeout(() => res(false), ms)));
  const ok = await Promise.race([p.then(() => true as const, () => true as const), late]);
  clearTimeout(timer);
  return ok;
}
