import { afterEach, expect } from "vitest";
import type { Ledger, ServerRow, SnapshotRow, SnapshotState, CopyRow, CopyState } from "../../../db/ledger.ts";
import { fakeClock, type Clock } from "../../../src/clock.ts";
import { SnapbotError } from "../../../src/errors.ts";

// What every part of the ledger contract starts from: a fresh ledger on its own database (a new file, a new
// PostgreSQL database), a fake clock, and a way to open a second ledger on the same database (another
// replica, another process). Everything opened is closed after each test.

export type FakeClock = ReturnType<typeof fakeClock>;

/** A backend under test: a new empty ledger, and a second handle on the same database. */
export type OpenLedger = (clock: Clock) => Promise<{ ledger: Ledger; replica: (clock: Clock) => Promise<Ledger> }>;

export interface Fixture {
  ledger: Ledger;
  clock: FakeClock;
  replica(): Promise<Ledger>;
}

export function fixtures(open: OpenLedger): { fresh(start?: number): Promise<Fixture>; withServer(start?: number): Promise<Fixture & { server: ServerRow }> } {
  const opened: Ledger[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((l) => l.close()));
  });
  async function fresh(start = Date.UTC(2026, 0, 1)): Promise<Fixture> {
    const clock = fakeClock(start);
    const { ledger, replica } = await open(clock);
    opened.push(ledger);
    return {
      ledger,
      clock,
      replica: async () => {
        const other = await replica(clock);
        opened.push(other);
        return other;
      },
    };
  }
  async function withServer(start?: number) {
    const f = await fresh(start);
    await f.ledger.servers.syncFromConfig([{ name: "demo", driver: "archive", settings: { paths: ["/tmp"] } }]);
    return { ...f, server: (await f.ledger.servers.get("demo"))! };
  }
  return { fresh, withServer };
}

/** More servers beside demo (its settings emptied, as each test's own config would): their rows, in the order named. */
export async function addServers<N extends string[]>(l: Ledger, ...names: N): Promise<{ [K in keyof N]: ServerRow }> {
  await l.servers.syncFromConfig(["demo", ...names].map((name) => ({ name, driver: "archive", settings: {} })));
  const rows: ServerRow[] = [];
  for (const n of names) rows.push((await l.servers.get(n))!);
  return rows as { [K in keyof N]: ServerRow };
}

/** Legal paths from a new snapshot (pending) to each state: tests reach a state the way the engine would. */
export const SNAPSHOT_PATHS: Record<SnapshotState, SnapshotState[]> = {
  pending: [],
  running: ["running"],
  done: ["running", "done"],
  failed: ["running", "failed"],
  broken: ["running", "broken"],
  deleting: ["running", "done", "deleting"],
  deleted: ["running", "failed", "deleted"],
  expired: ["running", "done", "expired"],
};

/** The same from a new copy (running). */
export const COPY_PATHS: Record<CopyState, CopyState[]> = {
  running: [],
  done: ["done"],
  failed: ["failed"],
  broken: ["done", "broken"],
  deleting: ["done", "deleting"],
  deleted: ["done", "deleting", "deleted"],
  expired: ["done", "deleting", "expired"],
};

export async function walkSnapshot(l: Ledger, id: number, to: SnapshotState): Promise<SnapshotRow> {
  let row = (await l.snapshots.get(id))!;
  for (const st of SNAPSHOT_PATHS[to]) row = await l.snapshots.transition(id, st);
  return row;
}

export async function walkCopy(l: Ledger, id: number, to: CopyState): Promise<CopyRow> {
  let row = (await l.copies.get(id))!;
  for (const st of COPY_PATHS[to]) row = await l.copies.transition(id, st);
  return row;
}

/** The promise rejects with a SnapbotError of this code. */
export async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<SnapbotError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e, `expected a ${code} error`).toBeInstanceOf(SnapbotError);
  expect((e as SnapbotError).code).toBe(code);
  return e as SnapbotError;
}
