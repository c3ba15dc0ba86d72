import type { Logger } from "pino";
import type { LedgerHealth } from "../../db/ledger.ts";
import type { Clock } from "../clock.ts";
import { errorMessage } from "../errors.ts";
import { formatAge } from "../duration.ts";

// A dead man's switch (healthchecks.io style): snapbot pings `url` every `every` while it really works:
// the scheduler ticked recently and the ledger takes a write. Otherwise it stays silent, and the silence
// is what raises the alarm, also when snapbot is down altogether. The URL carries a secret (the check's
// UUID or key), so it is never logged whole: only its host.

const TIMEOUT_MS = 10_000;
const PROBE_BUSY_MS = 250; // a probe waiting 5 s (the ledger's busy_timeout) would stall the bot that long

export type BeatOutcome = "pinged" | "skipped" | "failed";

export interface HeartbeatDeps {
  url: string;
  everyMs: number;
  /** The scheduler's last tick, or null before the first (then the age counts from when this was made). */
  lastTick: () => number | null;
  maxTickAgeMs: number;
  /** The ledger's own write probe (a committed one-row write), so a full disk, a read-only file or a held lock all show. */
  health: Pick<LedgerHealth, "probe">;
  clock: Clock;
  log: Logger;
  timeoutMs?: number;
}

export interface Heartbeat {
  /** One beat: checks, then pings (or stays silent); after the one in flight, if any. Never throws. */
  beat(): Promise<BeatOutcome>;
  /** Beats now and every `everyMs` (an unref'd timer: never what keeps the process alive). */
  start(): void;
  stop(): void;
}

export function createHeartbeat(d: HeartbeatDeps): Heartbeat {
  const host = new URL(d.url).host;
  const log = d.log.child({ component: "heartbeat", host });
  const since = d.clock.now();
  let timer: NodeJS.Timeout | undefined;
  let last: Promise<BeatOutcome> = Promise.resolve("skipped"); // beats run one after another, never overlapping
  let silentWhy: string | null = null; // logged once when it goes silent, once when it recovers

  /** Why snapbot should not say it is alive, or null when it should. */
  async function unhealthy(): Promise<string | null> {
    const at = d.lastTick();
    const age = d.clock.now() - (at ?? since);
    if (age > d.maxTickAgeMs) return `the scheduler ${at === null ? "has not ticked since start-up" : "last ticked"} ${formatAge(age)} ago`;
    try {
      return (await d.health.probe(PROBE_BUSY_MS)) ? null : "the ledger cannot write (its disk is full)";
    } catch (e) {
      return `the ledger cannot write (${errorMessage(e).split("\n")[0]})`;
    }
  }

  function beat(): Promise<BeatOutcome> {
    last = last.then(once, once);
    return last;
  }

  async function once(): Promise<BeatOutcome> {
    const why = await unhealthy();
    if (why) {
      if (silentWhy === null) log.warn({ why }, "heartbeat silent: snapbot is not healthy, so the dead man's switch is not pinged");
      silentWhy = why;
      return "skipped";
    }
    if (silentWhy !== null) log.info("heartbeat healthy again: pinging");
    silentWhy = null;
    try {
      const res = await fetch(d.url, { method: "GET", signal: AbortSignal.timeout(d.timeoutMs ?? TIMEOUT_MS), redirect: "follow" });
      await res.body?.cancel();
      if (res.ok) return "pinged";
      log.warn({ status: res.status }, "heartbeat ping was refused");
      return "failed";
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      log.warn({ err: errorMessage(e), ...(cause && { code: cause }) }, "heartbeat ping failed");
      return "failed";
    }
  }

  return {
    beat,
    start() {
      if (timer) return;
      void beat();
      timer = setInterval(() => void beat(), d.everyMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
