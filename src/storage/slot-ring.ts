// A bounded ring of slots in one SharedArrayBuffer: the stream is copied in once, on the main thread, and
// every hashing thread reads the same bytes in place (no copy per thread, nothing transferred, no garbage).
// A slot is free again once each reader has released it; when none is free, write() makes the caller wait,
// which is the backpressure that keeps memory at slots × slotSize whatever the snapshot size.

export interface SlotRingOptions {
  slots: number;
  slotSize: number;
  /** How many threads read each slot: it is free once all of them have released it. */
  readers: number;
  /** A slot is ready: `length` bytes from its start (readers get it in the order sent). */
  send(slot: number, length: number): void;
}

export interface SlotRing {
  readonly buffer: SharedArrayBuffer;
  readonly slotSize: number;
  /** Copies the chunk in: returns at once, or a promise that resolves once its last byte is in a slot. */
  write(chunk: Uint8Array): Promise<void> | void;
  /** Sends the slot being filled even if it is not full (a part ended in it: its digest must not wait). */
  flush(): void;
  release(slot: number): void;
  /** Wakes a waiting write with this error; every later write throws it. */
  fail(e: Error): void;
}

export function createSlotRing(opts: SlotRingOptions): SlotRing {
  const buffer = new SharedArrayBuffer(opts.slots * opts.slotSize);
  const views = Array.from({ length: opts.slots }, (_, i) => new Uint8Array(buffer, i * opts.slotSize, opts.slotSize));
  const free = views.map((_, i) => opts.slots - 1 - i); // a stack: the slot released last is the one still in cache
  const holders = new Uint8Array(opts.slots);
  let current = -1;
  let filled = 0;
  let failure: Error | null = null;
  let returned: (() => void) | null = null;

  const wake = () => {
    const w = returned;
    returned = null;
    w?.();
  };
  const fail = (e: Error) => {
    failure ??= e;
    wake();
  };
  const flush = () => {
    if (current < 0 || filled === 0) return;
    holders[current] = opts.readers;
    const [slot, length] = [current, filled];
    current = -1;
    filled = 0;
    opts.send(slot, length);
  };
  const take = (): boolean => {
    current = free.pop() ?? -1;
    return current >= 0;
  };
  const waitForSlot = () =>
    new Promise<void>((resolve) => (returned = resolve)).then(() => {
      if (failure) throw failure;
    });
  /** Copies what fits into the slot at hand; returns where in the chunk it stopped. */
  const copy = (chunk: Uint8Array, at: number): number => {
    const n = Math.min(opts.slotSize - filled, chunk.length - at);
    views[current]!.set(at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n), filled);
    filled += n;
    if (filled === opts.slotSize) flush();
    return at + n;
  };
  async function copyRest(chunk: Uint8Array, from: number): Promise<void> {
    for (let at = from; at < chunk.length; ) {
      while (current < 0 && !take()) await waitForSlot();
      at = copy(chunk, at);
    }
  }

  return {
    buffer,
    slotSize: opts.slotSize,
    write(chunk) {
      if (failure) throw failure;
      // The common case, synchronously: the chunk fits in the slot at hand (or in a free one).
      if (current < 0 && !take()) return copyRest(chunk, 0);
      const at = copy(chunk, 0);
      if (at < chunk.length) return copyRest(chunk, at);
    },
    flush,
    release(slot) {
      if (holders[slot] === 0) return fail(new Error(`slot ${slot} was released more often than it was sent`));
      if (--holders[slot]! > 0) return;
      free.push(slot);
      wake();
    },
    fail,
  };
}
