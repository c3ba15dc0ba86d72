// Time is passed in so tests (and the scheduler's tests later) can use a fake clock.
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

export function fakeClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms), set: (ms) => void (t = ms) };
}
