import type { Logger } from "pino";
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

/** The ledger's word, when the work starts: false for a delivery seen before (also before a restart). */
export function firstDelivery(deps: HandlerDeps, key: string): boolean {
  if (deps.app.ledger.deliveries.firstSeen(key)) return true;
  deps.log.info({ key }, "duplicate delivery ignored: the ledger has seen it");
  return false;
}

/** Runs a request's work after its ack (and the acks queued with it); a failure there is logged, never thrown into Bolt. */
export function inBackground(deps: HandlerDeps, what: Record<string, unknown>, work: () => Promise<void>): void {
  deps.track(deps.afterAck.run(work).catch((e: unknown) => deps.log.error({ err: e, ...what }, "a Slack request failed after its ack")));
}
