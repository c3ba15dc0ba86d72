// Work that reads and writes across awaits, taking turns per key: the next call for a key starts once the one
// before it has settled (fulfilled or not), calls for other keys run at once. A key is forgotten once idle.

export type Turns<K> = <T>(key: K, fn: () => Promise<T>) => Promise<T>;

export function createTurns<K>(): Turns<K> {
  const tails = new Map<K, Promise<unknown>>();
  return <T>(key: K, fn: () => Promise<T>): Promise<T> => {
    const run = (tails.get(key) ?? Promise.resolve()).then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    tails.set(key, settled);
    void settled.then(() => {
      if (tails.get(key) === settled) tails.delete(key);
    });
    return run;
  };
}
