import type { Session } from "./session.ts";

/** What every PostgreSQL repository is built over: where its statements go, the clock, and state kept across sessions. */
export interface RepoContext {
  s: Session;
  now: () => number;
  /** This process among the replicas: recorded on the operations it starts. */
  replica: string;
  /** Per ledger, not per session: a `tx` handle's repositories are made for each transaction. */
  shared: { lastPrune: number };
}
