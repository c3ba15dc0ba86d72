import type { Logger } from "pino";
import { SnapbotError } from "../../errors.ts";
import type { App } from "../../app.ts";
import type { DeliverDeps } from "./deliver-reply.ts";
import type { AfterAck } from "./after-ack.ts";
import type { RecentDeliveries } from "./recent-deliveries.ts";

/** What the Slack listeners share: the app, delivery settings, and a tracker for work that outlives the ack. */
export interface HandlerDeps extends DeliverDeps {
  app: App;
  log: Logger;
  respondTimeoutMs: number;
  /** Registers work that goes on after the ack, so a graceful stop can wait for it. */
  track(work: Promise<unknown>): void;
  /** Where that work waits for the acks of requests that arrived before it started. */
  afterAck: AfterAck;
  /** Duplicate deliveries, told apart before the ack without touching the disk. */
  recent: RecentDeliveries;
}

/**
 * The ledger's word, when the work starts: false for a delivery seen before (also before a restart). A ledger that
 * cannot answer (unreachable, full) does not swallow the request: it runs, and its answer says what is wrong (a
 * retry Slack sends meanwhile is still dropped by this process's own recent-deliveries check).
 */
export async function firstDelivery(deps: HandlerDeps, key: string): Promise<boolean> {
  let first: boolean;
  try {
    first = await deps.app.ledger.deliveries.firstSeen(key);
  } catch (e) {
    if (!(e instanceof SnapbotError)) throw e;
    deps.log.warn({ key, err: e.message }, "the ledger could not record a delivery: the request runs and says what is wrong");
    return true;
  }
  if (first) return true;
  deps.log.info({ key }, "duplicate delivery ignored: the ledger has seen it");
  return false;
}

/** Runs a request's work after its ack (and the acks queued with it); a failure there is logged, never thrown into Bolt. */
export function inBackground(deps: HandlerDeps, what: Record<string, unknown>, work: () => Promise<void>): void {
  deps.track(deps.afterAck.run(work).catch((e: unknown) => deps.log.error({ err: e, ...what }, "a Slack request failed after its ack")));
}
