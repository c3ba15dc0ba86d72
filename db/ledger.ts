// The ledger: every snapshot, operation, approval, alert, schedule and copy snapbot knows of, behind one
// written interface with two implementations (DESIGN.md §1a): SQLite (db/sqlite/, the embedded file, the
// default for one box) and PostgreSQL (db/postgres/, several replicas on one database). Every method answers
// with a promise, so the same callers run on either; every state change is one guarded statement or one
// transaction. The shapes of the rows and inputs are the backends' shared vocabulary (db/types.ts,
// db/states.ts, and the input types the SQLite repositories declare, re-exported here).

import type { MessageRef } from "../src/reply.ts";
import type { SnapbotError } from "../src/errors.ts";
import type { AlertDue, ApprovalRow, CopyRow, OperationRow, PostClaim, ServerRow, SnapshotRow } from "./types.ts";
import type { CopyState, OperationState, SnapshotState } from "./states.ts";
import type { AlertKind, AlertRow, NewAlert } from "./sqlite/alert-repo.ts";
import type { CopyCandidate, CopyChanges, NewCopy } from "./sqlite/copy-repo.ts";
import type { HostKeyInput, SharedKey } from "./sqlite/host-key-repo.ts";
import type { NewOperation, OperationChanges } from "./sqlite/operation-repo.ts";
import type { Origin, RetentionRow } from "./sqlite/retention-repo.ts";
import type { NewSchedule, ScheduleRow, ScheduleRun } from "./sqlite/schedule-repo.ts";
import type { ServerInput } from "./sqlite/server-repo.ts";
import type { ExpiredRef, ListOptions, NewSnapshot, SnapshotChanges } from "./sqlite/snapshot-repo.ts";
import type { FinishedOperation, NewestGood, ServerHealth, SnapshotCounts } from "./sqlite/stats-repo.ts";
import type { NewTargetSchedule, TargetScheduleRow } from "./sqlite/target-schedule-repo.ts";
import type { TreeNodeRow } from "./sqlite/tree-repo.ts";

export type * from "./types.ts";
export type { CopyState, OperationState, SnapshotState } from "./states.ts";
export type { AlertKind, AlertRow, NewAlert, CopyCandidate, CopyChanges, NewCopy, HostKeyInput, SharedKey, NewOperation, OperationChanges };
export type { Origin, RetentionRow, NewSchedule, ScheduleRow, ScheduleRun, ServerInput, ExpiredRef, ListOptions, NewSnapshot, SnapshotChanges };
export type { FinishedOperation, NewestGood, ServerHealth, SnapshotCounts, NewTargetSchedule, TargetScheduleRow, TreeNodeRow };

/** The repositories, as one transaction sees them too (`tx`'s handle has the same shape). */
export interface LedgerRepos {
  servers: ServerRepo;
  snapshots: SnapshotRepo;
  /** Snapshot trees: parents, children, each server's current position. */
  tree: TreeRepo;
  /** Copies of stored snapshots on storage targets (their own state machine: db/states.ts copyMachine). */
  copies: CopyRepo;
  operations: OperationRepo;
  deliveries: DeliveryRepo;
  approvals: ApprovalRepo;
  alerts: AlertRepo;
  hostKeys: HostKeyRepo;
  stats: StatsRepo;
  schedules: ScheduleRepo;
  /** Schedules that re-read a whole storage target in slices (verify --target), with their rolling round. */
  targetSchedules: TargetScheduleRepo;
  retention: RetentionRepo;
}

/** A transaction's view of the ledger: the same repositories, on the transaction's connection. */
export interface LedgerTx extends LedgerRepos {
  /** A nested transaction (a savepoint): fails alone, or commits with the outer one. */
  tx<T>(fn: (t: LedgerTx) => Promise<T>): Promise<T>;
}

export interface Ledger extends LedgerRepos {
  /** Which implementation this is, for /healthz and the logs (never a connection string). */
  readonly backend: "sqlite" | "postgres";
  /** What the replicas on this ledger share: which are alive, the per-server leases, the one leader. */
  readonly coordination: Coordination;
  /** Whether the ledger can write, and the writes that wait until it can again. */
  readonly health: LedgerHealth;
  /**
   * Runs fn in one transaction: its state changes commit together or not at all. Inside, use `t`, never the
   * outer ledger: on SQLite the one connection is fn's until it settles, so an outer call would wait for it.
   */
  tx<T>(fn: (t: LedgerTx) => Promise<T>): Promise<T>;
  /** Answers when the database does (`SELECT 1`); throws a ledger error when it does not. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A lease asked for: its key (a server's name) and what it is for ("create demo/s1"). */
export interface LeaseWanted {
  key: string;
  label: string;
}

/** Who holds a lease, and for what: "demo is busy: restore demo/s1 (operation #4) has been running for 2m". */
export interface LeaseHolder {
  key: string;
  replica: string;
  label: string;
  since: number;
  operationId: number | null;
}

/**
 * The replicas of one ledger (DESIGN.md §1a): on PostgreSQL, rows and an advisory lock shared by every process on
 * the database; on SQLite, one process, so nobody else can hold a lease and this process always leads. A lease
 * lives while its replica's heartbeat does: one heartbeat renews all of them, and a dead replica's leases lapse.
 */
export interface Coordination {
  /** This process among the replicas (host/pid/random): what the ledger records as the owner of its work. */
  readonly replica: string;
  /** True when other processes share the leases and the leadership (PostgreSQL). */
  readonly shared: boolean;
  /**
   * This replica is alive for `ttlMs` more, by the database's clock. `lapsed`: the previous heartbeat had already
   * expired, so other replicas may have taken its leases (and settled its work) meanwhile.
   */
  heartbeat(ttlMs: number): Promise<{ lapsed: boolean }>;
  /**
   * Takes the leases on these keys for this replica, in one statement (the scheduler's batch takes hundreds): each
   * key's answer in order, null when it is taken (free, or its holder dead), else who holds it. Keys are distinct.
   */
  acquire(wanted: LeaseWanted[], since: number): Promise<(LeaseHolder | null)[]>;
  /** The operations leases are for, once they are recorded (what a refusal names). */
  attach(leases: { key: string; operationId: number }[]): Promise<void>;
  release(key: string): Promise<void>;
  /** Becomes the leader if nobody is, or checks that this replica still is: true while it leads. */
  lead(): Promise<boolean>;
  /** Gives up the leadership (another replica takes it at its next try). */
  resign(): Promise<void>;
  /** The replicas alive now, by the database's clock, oldest first (what the coordination tests check). */
  alive(): Promise<string[]>;
  /** Stopping: the leadership, every lease and this replica's row go, so nothing waits for it to lapse. */
  leave(): Promise<void>;
}

/** A write to make once the ledger can write again: `write` says in one line what it recorded. */
export interface DeferredWrite {
  write: () => Promise<string>;
  /** It failed for another reason than a full disk: handle it, and say what happened instead. */
  failed: (e: unknown) => string;
}

export type HealthEvent =
  | { state: "full"; path: string; free: number | null; message: string }
  | { state: "writable"; path: string; settled: string[] };

/**
 * A ledger that takes no more writes (SQLite: its disk is full; PostgreSQL: disk_full) is "full" until a probe
 * write passes; reads keep working. Writes that must not be lost wait here and are made, in order, then.
 */
export interface LedgerHealth {
  /** Where the ledger is, as the messages name it (a file path, or the database without credentials). */
  readonly path: string;
  readonly full: boolean;
  /** Since when it is full (null: it can write). */
  fullSince(): number | null;
  /** A raw error from the database: a full disk becomes the ledger_full error (and the state "full"). */
  caught(e: unknown): unknown;
  /** The ledger_full error, for work refused while full. */
  error(): SnapbotError;
  /** "the ledger … is full (… free on its disk)": for messages that explain what waits. */
  describe(): string;
  /**
   * One small committed write: true if the ledger can write (ending the full state), false if still full.
   * Other failures (a lock held past `busyMs`, a lost connection) throw. `busyMs` bounds the wait.
   */
  probe(busyMs?: number): Promise<boolean>;
  /** Keeps a write for when the ledger can write again. */
  defer(d: DeferredWrite): void;
  /** Writes waiting for the ledger. */
  waiting(): number;
  /** Told once when the ledger fills up, and once when it can write again (with what was settled then). */
  onChange(listener: (e: HealthEvent) => void): void;
}

export interface AlertRepo {
  /** Opens an alert, or counts one more sighting of the open alert with the same key (no new message). */
  raise(a: NewAlert): Promise<{ alert: AlertRow; fresh: boolean; }>;
  /** Closes the open alert with this key, recording why; returns it (with where its message is) or undefined. */
  resolve(key: string, why?: string | null): Promise<AlertRow | undefined>;
  /** The keys of the open alerts of this kind on this server, whatever snapshot they name. */
  openKeys(kind: AlertKind, server: string): Promise<string[]>;
  /** Records who acknowledged an open alert; false when it is not open or was already acknowledged. */
  ack(id: number, by: string): Promise<boolean>;
  setMessage(id: number, ref: MessageRef): Promise<void>;
  /** Several alerts shown by one (summary) message: they share its ref. */
  setMessageMany(ids: number[], ref: MessageRef): Promise<void>;
  get(id: number): Promise<AlertRow | undefined>;
  /** The alerts a message shows, oldest first: one for an alert's own message, several for a summary. */
  byMessage(ref: MessageRef): Promise<AlertRow[]>;
  listOpen(): Promise<AlertRow[]>;
  /** One page of the open alerts, the most recently seen first, and how many there are. */
  openPage(limit: number, offset: number): Promise<{ rows: AlertRow[]; total: number; }>;
  /** One page of every alert, open ones first, then resolved ones (the most recently resolved first). */
  allPage(limit: number, offset: number): Promise<{ rows: AlertRow[]; total: number; }>;
  /**
   * The outbox in the ledger: what alert messages still owe (a first post, an update, a resolution's thread reply),
   * oldest first. Raising, repeating and resolving record what is owed in the same statement; whoever sends clears it.
   */
  due(ids?: number[]): Promise<AlertDue[]>;
  /**
   * Takes the first post of these alerts for `replica`: returns the ids it may post now (still unposted, and not being
   * posted by another process that is alive: a dead one's claim is taken over).
   */
  claimPosts(ids: number[], replica: string): Promise<PostClaim>;
  /** Claimed posts that did not go out: due again. */
  unclaimPosts(ids: number[], replica: string): Promise<void>;
  /** Its message was updated with what it showed when `update_due` was `seen` (a change since keeps it due). */
  updated(id: number, seen: number): Promise<void>;
  /** Their resolutions' thread reply was posted. */
  replied(ids: number[]): Promise<void>;
  /** Something its message shows changed outside raise/resolve (an ack): its message owes an update. */
  touch(id: number): Promise<void>;
}


export interface ApprovalRepo {
  get(id: number): Promise<ApprovalRow | undefined>;
  insert(operationId: number, requestedBy: string, expiresAt: number): Promise<ApprovalRow>;
  /** True when this call made the decision; false when it was already decided or has expired. */
  decide(id: number, to: "approved" | "denied", by: string): Promise<boolean>;
  /** Pending requests past their expiry, each moved to expired by a guarded UPDATE; returns those it moved. */
  expireDue(): Promise<ApprovalRow[]>;
  /** The requests still waiting for a decision, oldest first. */
  pending(): Promise<ApprovalRow[]>;
  /** The first request still waiting for a decision whose operation is about this snapshot, if any. */
  pendingFor(snapshotId: number): Promise<ApprovalRow | undefined>;
  setMessage(id: number, ref: MessageRef): Promise<void>;
}

export interface CopyRepo {
  get(id: number): Promise<CopyRow | undefined>;
  /** A new copy, running; a live copy already holding its place on the target makes it fail (copy_exists). */
  insert(c: NewCopy): Promise<CopyRow>;
  /** The one way a copy changes state: the machine checked, the UPDATE guarded on the state read. */
  transition(id: number, to: CopyState, changes?: CopyChanges): Promise<CopyRow>;
  /** Fields that change no state (where it is once claimed, when it was last verified). */
  annotate(id: number, changes: Pick<CopyChanges, "location" | "error" | "operation_id" | "verified_at">): Promise<void>;
  /** The snapshot's live copy on the target (running, done, broken or being removed), if any. */
  live(snapshotId: number, target: string): Promise<CopyRow | undefined>;
  /** The live copy holding <server>/<name> on the target, whichever snapshot of that name it came from. */
  liveAt(serverId: number, name: string, target: string): Promise<CopyRow | undefined>;
  /** Every copy of the snapshot ever made, newest first (failed and removed ones too). */
  ofSnapshot(snapshotId: number): Promise<CopyRow[]>;
  /** One server's done and broken copies on a target, oldest first: the target's retention input. */
  candidates(target: string, serverId: number): Promise<CopyCandidate[]>;
  /** Servers with done or broken copies on the target (registered or not: copies outlive their server's registration). */
  serversOn(target: string): Promise<string[]>;
  /** Every done and broken copy on the target, whichever server (registered or not): what verify --target reads. */
  onTarget(target: string): Promise<CopyRow[]>;
  /** Copies some writer or remover was working on: after a crash, start-up reconciliation settles them. */
  unfinished(): Promise<CopyRow[]>;
}

export interface DeliveryRepo {
  /** True the first time a key is seen, false for every later delivery of it: one guarded INSERT. */
  firstSeen(key: string): Promise<boolean>;
  /** How many deliveries are remembered (each key once): what the dedupe has seen in the last day. */
  count(): Promise<number>;
}

export interface HostKeyRepo {
  /** Records what a server presents now: keys it no longer has become 'replaced', new ones 'current'. */
  record(serverId: number, keys: HostKeyInput[]): Promise<void>;
  current(serverId: number): Promise<HostKeyInput[]>;
  /** A changed key was presented: the server is blocked until an admin accepts it (replaces earlier pending ones). */
  block(serverId: number, presented: HostKeyInput[]): Promise<void>;
  /** The presented keys waiting for an admin; empty when the server is not blocked. */
  pending(serverId: number): Promise<HostKeyInput[]>;
  /** Which of these servers are blocked (presented keys waiting for an admin), in one statement. */
  blockedAmong(serverIds: number[]): Promise<Set<number>>;
  /** The admin accepted: the accepted keys become current, the old ones replaced, nothing pending. */
  accept(serverId: number, keys: HostKeyInput[]): Promise<void>;
  /** Host keys presented by more than one active server: servers cloned from one snapshot. */
  shared(): Promise<SharedKey[]>;
}

export interface OperationRepo {
  get(id: number): Promise<OperationRow | undefined>;
  insert(o: NewOperation): Promise<OperationRow>;
  /** Many recorded with one statement, returned in order (the scheduler's runs and skips due in one minute). */
  insertMany(o: NewOperation[]): Promise<OperationRow[]>;
  /** A snapshot recorded after its operation (a scheduled create, when it starts). */
  attachSnapshot(id: number, snapshotId: number): Promise<void>;
  transition(id: number, to: OperationState, changes?: OperationChanges): Promise<OperationRow>;
  /** The audit log, newest first. */
  list(o: { serverId?: number; limit: number; }): Promise<OperationRow[]>;
  /** Operations a crash interrupted (queued ones never started, running ones died). */
  interrupted(): Promise<OperationRow[]>;
}

export interface RetentionRepo {
  candidates(serverId: number, origins: Origin[], names?: boolean): Promise<RetentionRow[]>;
  /** When the server's newest good (done) snapshot was taken, any origin; null if it has none. */
  newestGood(serverId: number): Promise<number | null>;
  /** Ids of the server's snapshots that live snapshots name as their parent. */
  parents(serverId: number): Promise<Set<number>>;
  /** Snapshot id → what unfinished operation refers to it ("restore awaiting approval (operation #4)"). */
  inUse(): Promise<Map<number, string>>;
}

export interface ScheduleRepo {
  /** Every live schedule of a live server, by server name. */
  live(): Promise<ScheduleRow[]>;
  forServer(serverId: number): Promise<ScheduleRow | undefined>;
  get(id: number): Promise<ScheduleRow | undefined>;
  /** A server's new schedule replaces its old one, in one transaction. */
  set(s: NewSchedule): Promise<{ schedule: ScheduleRow; replaced: ScheduleRow | undefined; }>;
  remove(serverId: number): Promise<ScheduleRow | undefined>;
  /** Runs were started (or skipped) for their scheduled minutes: one statement for all of them. */
  ran(runs: ScheduleRun[]): Promise<void>;
  /**
   * The runs for these scheduled minutes are this caller's: one guarded UPDATE for all, answering the ids it got. A
   * schedule is left out when a run at or after its `at` is already recorded (by another replica's scheduler) or it
   * is gone. Made in the transaction that records the runs, so a run is claimed and recorded together or not at all.
   */
  claim(runs: { id: number; at: number }[]): Promise<Set<number>>;
  /**
   * Changes whenever a schedule or a target schedule is set or removed (not when one runs): a leader re-reads the
   * schedules when a command on another replica changed them.
   */
  version(): Promise<string>;
  /** The run's operation ended; ignored if a newer run has been recorded since. */
  settled(id: number, op: number, status: "failed" | "succeeded", message?: string | null): Promise<void>;
}

export interface ServerRepo {
  get(name: string): Promise<ServerRow | undefined>;
  /** The registered servers of these names, by name, in one statement (the scheduler's batch). */
  getMany(names: string[]): Promise<Map<string, ServerRow>>;
  /** The server of that name, registered or unregistered since (its history stays): read-only commands. */
  find(name: string): Promise<ServerRow | undefined>;
  list(): Promise<ServerRow[]>;
  /** Makes the ledger's config-sourced servers match the config file, in one transaction. */
  syncFromConfig(servers: ServerInput[]): Promise<void>;
  register(input: ServerInput, by: string, clonedFrom?: number | null): Promise<ServerRow>;
  unregister(name: string): Promise<ServerRow>;
}

export interface SnapshotRepo {
  get(id: number): Promise<SnapshotRow | undefined>;
  /** The snapshot of that name that still exists (one index probe), or undefined. */
  findLive(serverId: number, name: string): Promise<SnapshotRow | undefined>;
  /** findLive for many (server, name) pairs in one statement: the snapshots among them that still exist. */
  liveAmong(pairs: { serverId: number; name: string }[]): Promise<SnapshotRow[]>;
  /** The snapshot of that name that still exists, else the newest record of it (deleted, failed…). */
  find(serverId: number, name: string): Promise<SnapshotRow | undefined>;
  insert(s: NewSnapshot): Promise<SnapshotRow>;
  /**
   * The one way a snapshot changes state: checks the state machine and updates with a guard on the
   * state it read, so a concurrent change makes this fail instead of being overwritten. One UPDATE …
   * RETURNING, no savepoint: the guard is what makes it safe, and the row comes back from the write itself.
   */
  transition(id: number, to: SnapshotState, changes?: SnapshotChanges): Promise<SnapshotRow>;
  /** Fields that change no state (verification time, details). */
  annotate(id: number, changes: Pick<SnapshotChanges, "error" | "verified_at" | "details">): Promise<void>;
  list(serverId: number, o: ListOptions): Promise<{ rows: SnapshotRow[]; total: number; }>;
  /** How many of the server's snapshots still exist (what `list` shows): the limit's count. */
  liveCount(serverId: number): Promise<number>;
  /** Names of the server's snapshots that still exist (for LXD's %d numbering: highest + 1). */
  liveNames(serverId: number): Promise<string[]>;
  /** Retention's input: every done snapshot whose expiry has passed, lean (no JSON columns) for speed. */
  expired(at: number): Promise<ExpiredRef[]>;
  /** The same for one server, oldest expiry first, filtered in SQLite (not every server's rows read). */
  expiredOf(serverId: number, at: number): Promise<ExpiredRef[]>;
  /** The server's done and broken snapshots, oldest first: what a whole-store verify (verify --target local) reads. */
  verifiable(serverId: number): Promise<SnapshotRow[]>;
  /** Snapshots some writer or deleter was working on: after a crash, reconciliation decides their fate. */
  unfinished(): Promise<SnapshotRow[]>;
}

export interface StatsRepo {
  /** Snapshot rows of each server not unregistered, by state (every state, 0 when none). */
  snapshotCounts(): Promise<SnapshotCounts[]>;
  /** Per server not unregistered, when its newest done snapshot was made; servers with none are absent. */
  newestGood(): Promise<NewestGood[]>;
  /** Every server not unregistered, by name: its health as `servers` shows it. */
  serverHealth(): Promise<ServerHealth[]>;
  /** Open alerts by kind; kinds with none are absent. */
  openAlerts(): Promise<{ kind: AlertKind; n: number; }[]>;
  /** Operations whose finished_at is at or after `since` (ms), oldest first, ties by id. */
  finishedSince(since: number): Promise<FinishedOperation[]>;
}

export interface TargetScheduleRepo {
  live(): Promise<TargetScheduleRow[]>;
  forTarget(target: string): Promise<TargetScheduleRow | undefined>;
  get(id: number): Promise<TargetScheduleRow | undefined>;
  /**
   * A target's new schedule replaces its old one in one transaction. The same number of slices keeps the round
   * where it was (only the times change); another number starts a new round at slice 1.
   */
  set(s: NewTargetSchedule): Promise<{ schedule: TargetScheduleRow; replaced: TargetScheduleRow | undefined; }>;
  remove(target: string): Promise<TargetScheduleRow | undefined>;
  /** A run was started (or skipped) for the scheduled minute `at`. */
  ran(id: number, at: number, status: "failed" | "started" | "skipped", op: number | null, message?: string | null): Promise<void>;
  /** The run's operation ended; ignored if a newer run has been recorded since. */
  settled(id: number, op: number, status: "failed" | "succeeded", message?: string | null): Promise<void>;
  /** The round's first run began at `at` (kept if a round is already under way: a retry continues it). */
  beginRound(id: number, at: number): Promise<void>;
  /** Slice `from` was read: the next run reads `next` (1 ends the round). Guarded, so a replaced schedule is not moved. */
  advance(id: number, from: number, next: number): Promise<boolean>;
}

export interface TreeRepo {
  /** The live snapshots whose parent is `id`, oldest first. */
  children(id: number): Promise<SnapshotRow[]>;
  /**
   * Every live snapshot below `id` (not `id` itself), leaves first: each snapshot comes after all of its
   * descendants (post-order, siblings oldest first), the order a subtree is deleted in. Iterative, so a
   * chain of thousands does not run out of stack; a parent loop in bad data is walked once.
   */
  descendants(id: number): Promise<SnapshotRow[]>;
  /** The server's current position, if it is a live snapshot. */
  current(serverId: number): Promise<SnapshotRow | undefined>;
  /** The current position's id as recorded (for the drawing: no row read). */
  currentId(serverId: number): Promise<number | null>;
  setCurrent(serverId: number, snapshotId: number | null): Promise<void>;
  /** One snapshot moved under another (null: a root). */
  reparent(snapshotId: number, parentId: number | null): Promise<void>;
  /** The live children of `fromId` moved under `toId` (a deleted snapshot's children go to its parent); returns how many. */
  reparentChildren(fromId: number, toId: number | null): Promise<number>;
  /** Every live snapshot of the server, for list --tree. */
  nodes(serverId: number): Promise<TreeNodeRow[]>;
}

