import { describe, expect, it } from "vitest";
import type { LedgerRepos, NewSchedule } from "../../../db/ledger.ts";
import { addServers, type fixtures } from "./fixture.ts";

// Schedules (one live per server) and target schedules (one live per target, with a persisted round).

export function scheduleContract({ withServer }: ReturnType<typeof fixtures>): void {
  describe("schedules", () => {
    /** One schedule's claim: whether this caller got that minute. */
    const claim = async (l: LedgerRepos, id: number, at: number) => (await l.schedules.claim([{ id, at }])).has(id);
    const plan = (serverId: number, over: Partial<NewSchedule> = {}): NewSchedule => ({
      server_id: serverId, cron: "0 * * * *", pattern: "auto-%d", expiry: "7d", keep: null, native: false, warn_after_ms: null, crit_after_ms: null, created_by: "U1", ...over,
    });

    it("a new schedule replaces the old one; remove ends it; rows read back whole", async () => {
      const { ledger, server, clock } = await withServer();
      const first = await ledger.schedules.set(plan(server.id, { keep: { daily: 7 } as NewSchedule["keep"], native: true, warn_after_ms: 5, crit_after_ms: 9 }));
      expect(first.replaced).toBeUndefined();
      expect(first.schedule).toEqual({
        id: first.schedule.id, server_id: server.id, server: "demo", cron: "0 * * * *", pattern: "auto-%d", expiry: "7d", keep: { daily: 7 }, native: true,
        warn_after_ms: 5, crit_after_ms: 9, created_by: "U1", created_at: clock.now(), last_run_at: null, last_status: null, last_operation_id: null,
        last_message: null, removed_at: null,
      });
      clock.advance(1000);
      const second = await ledger.schedules.set(plan(server.id, { cron: "*/5 * * * *" }));
      expect(second.replaced).toEqual(first.schedule);
      expect(second.schedule).toMatchObject({ cron: "*/5 * * * *", native: false, keep: null });
      expect((await ledger.schedules.get(first.schedule.id))!.removed_at).toBe(clock.now());
      expect((await ledger.schedules.forServer(server.id))!.id).toBe(second.schedule.id);
      expect((await ledger.schedules.live()).map((s) => s.id)).toEqual([second.schedule.id]);
      expect((await ledger.schedules.remove(server.id))!.id).toBe(second.schedule.id);
      expect(await ledger.schedules.remove(server.id)).toBeUndefined();
      expect(await ledger.schedules.forServer(server.id)).toBeUndefined();
      expect(await ledger.schedules.live()).toEqual([]);
      expect(await ledger.schedules.get(999_999)).toBeUndefined();
    });

    it("live lists live schedules of live servers by server name", async () => {
      const { ledger } = await withServer();
      await ledger.servers.syncFromConfig([{ name: "zeta", driver: "archive", settings: {} }, { name: "alpha", driver: "archive", settings: {} }, { name: "Beta", driver: "archive", settings: {} }]);
      for (const name of ["zeta", "alpha", "Beta"]) await ledger.schedules.set(plan((await ledger.servers.get(name))!.id));
      expect((await ledger.schedules.live()).map((s) => s.server)).toEqual(["Beta", "alpha", "zeta"]); // bytes order, as SQLite sorts
      await ledger.servers.syncFromConfig([{ name: "alpha", driver: "archive", settings: {} }]);
      expect((await ledger.schedules.live()).map((s) => s.server)).toEqual(["alpha"]);
    });

    it("ran records the last run; settled only while it is still the last one", async () => {
      const { ledger, server } = await withServer();
      const { schedule } = await ledger.schedules.set(plan(server.id));
      const op1 = await ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: "scheduler" });
      const op2 = await ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: "scheduler" });
      await ledger.schedules.ran([{ id: schedule.id, at: 60_000, status: "started", op: op1.id }]);
      expect(await ledger.schedules.get(schedule.id)).toMatchObject({ last_run_at: 60_000, last_status: "started", last_operation_id: op1.id, last_message: null });
      await ledger.schedules.ran([{ id: schedule.id, at: 120_000, status: "started", op: op2.id, message: "second" }]);
      await ledger.schedules.settled(schedule.id, op1.id, "failed", "late"); // an older run: ignored
      expect(await ledger.schedules.get(schedule.id)).toMatchObject({ last_status: "started", last_message: "second" });
      await ledger.schedules.settled(schedule.id, op2.id, "succeeded");
      expect(await ledger.schedules.get(schedule.id)).toMatchObject({ last_status: "succeeded", last_message: null });
      await ledger.schedules.ran([{ id: schedule.id, at: 180_000, status: "skipped", op: null, message: "busy" }]);
      expect(await ledger.schedules.get(schedule.id)).toMatchObject({ last_run_at: 180_000, last_status: "skipped", last_operation_id: null, last_message: "busy" });
      await ledger.schedules.remove(server.id);
      await ledger.schedules.ran([{ id: schedule.id, at: 240_000, status: "started", op: null }]); // a removed schedule keeps its last run
      expect((await ledger.schedules.get(schedule.id))!.last_run_at).toBe(180_000);
    });

    it("claim: one caller wins each scheduled minute, across replicas; an earlier minute or a removed schedule is refused", async () => {
      const { ledger, server, replica } = await withServer();
      const other = await replica();
      const { schedule } = await ledger.schedules.set(plan(server.id));
      const wins = await Promise.all([claim(ledger, schedule.id, 60_000), claim(other, schedule.id, 60_000)]);
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect((await ledger.schedules.get(schedule.id))!.last_run_at).toBe(60_000);
      expect(await claim(other, schedule.id, 60_000)).toBe(false); // that minute is taken
      expect(await claim(other, schedule.id, 30_000)).toBe(false); // and so is every earlier one
      // Claimed in the transaction that records the run: rolled back with it, the minute is free again.
      await expect(ledger.tx(async (t) => {
        expect(await claim(t, schedule.id, 120_000)).toBe(true);
        throw new Error("the run could not be recorded");
      })).rejects.toThrow(/could not be recorded/);
      expect(await claim(other, schedule.id, 120_000)).toBe(true);
      await ledger.schedules.remove(server.id);
      expect(await claim(ledger, schedule.id, 180_000)).toBe(false);
    });

    it("claim and ran take a whole batch: each schedule's minute claimed or refused on its own, and every run recorded in one call", async () => {
      const { ledger, server, replica } = await withServer();
      const other = await replica();
      const [b, c] = await addServers(ledger, "b", "c");
      const [sa, sb, sc] = [(await ledger.schedules.set(plan(server.id))).schedule, (await ledger.schedules.set(plan(b.id))).schedule, (await ledger.schedules.set(plan(c.id))).schedule];
      expect(await claim(other, sb.id, 60_000)).toBe(true); // another replica ran b's minute already
      await ledger.schedules.remove(c.id);
      expect(await ledger.schedules.claim([])).toEqual(new Set());
      const won = await ledger.schedules.claim([{ id: sa.id, at: 60_000 }, { id: sb.id, at: 60_000 }, { id: sc.id, at: 60_000 }, { id: 999_999, at: 60_000 }]);
      expect(won).toEqual(new Set([sa.id]));
      const op = await ledger.operations.insert({ kind: "create", server_id: server.id, requested_by: "scheduler" });
      await ledger.schedules.ran([]);
      await ledger.schedules.ran([
        { id: sa.id, at: 60_000, status: "started", op: op.id },
        { id: sb.id, at: 120_000, status: "skipped", op: null, message: "busy" },
        { id: sc.id, at: 120_000, status: "started", op: null }, // removed: keeps its last run
      ]);
      expect(await ledger.schedules.get(sa.id)).toMatchObject({ last_run_at: 60_000, last_status: "started", last_operation_id: op.id, last_message: null });
      expect(await ledger.schedules.get(sb.id)).toMatchObject({ last_run_at: 120_000, last_status: "skipped", last_operation_id: null, last_message: "busy" });
      expect(await ledger.schedules.get(sc.id)).toMatchObject({ last_run_at: null, last_status: null });
    });

    it("version changes when a schedule or a target schedule is set or removed, on every replica, not when one runs", async () => {
      const { ledger, server, replica } = await withServer();
      const other = await replica();
      const seen = [await other.schedules.version()];
      const { schedule } = await ledger.schedules.set(plan(server.id));
      seen.push(await other.schedules.version());
      await ledger.schedules.ran([{ id: schedule.id, at: 60_000, status: "started", op: null }]);
      await claim(ledger, schedule.id, 120_000);
      expect(await other.schedules.version()).toBe(seen[1]);
      await ledger.schedules.set(plan(server.id)); // replaced
      seen.push(await other.schedules.version());
      await ledger.schedules.remove(server.id);
      seen.push(await other.schedules.version());
      await ledger.targetSchedules.set({ target: "offsite", cron: "0 3 * * *", slices: 7, created_by: "U1" });
      seen.push(await other.schedules.version());
      await ledger.targetSchedules.remove("offsite");
      seen.push(await other.schedules.version());
      expect(new Set(seen).size).toBe(seen.length);
    });

    it("two replicas replacing one server's schedule at once leave one live schedule", async () => {
      const { ledger, server, replica } = await withServer();
      const other = await replica();
      await Promise.all([ledger.schedules.set(plan(server.id, { cron: "1 * * * *" })), other.schedules.set(plan(server.id, { cron: "2 * * * *" }))]);
      expect(await ledger.schedules.live()).toHaveLength(1);
    });
  });

  describe("target schedules", () => {
    it("set keeps the round for the same number of slices and starts a new one for another; remove ends it", async () => {
      const { ledger, clock } = await withServer();
      const { schedule, replaced } = await ledger.targetSchedules.set({ target: "offsite", cron: "0 3 * * *", slices: 7, created_by: "U1" });
      expect(replaced).toBeUndefined();
      expect(schedule).toEqual({
        id: schedule.id, target: "offsite", cron: "0 3 * * *", slices: 7, next_slice: 1, round_started_at: null, created_by: "U1", created_at: clock.now(),
        last_run_at: null, last_status: null, last_operation_id: null, last_message: null, removed_at: null,
      });
      await ledger.targetSchedules.beginRound(schedule.id, 1000);
      await ledger.targetSchedules.beginRound(schedule.id, 2000); // a retry continues the round
      expect(await ledger.targetSchedules.advance(schedule.id, 1, 2)).toBe(true);
      expect(await ledger.targetSchedules.advance(schedule.id, 1, 2)).toBe(false); // already moved
      const same = await ledger.targetSchedules.set({ target: "offsite", cron: "0 4 * * *", slices: 7, created_by: "U2" });
      expect(same.replaced).toMatchObject({ id: schedule.id, next_slice: 2, round_started_at: 1000 });
      expect(same.schedule).toMatchObject({ cron: "0 4 * * *", next_slice: 2, round_started_at: 1000 });
      expect(await ledger.targetSchedules.advance(schedule.id, 2, 3)).toBe(false); // the replaced one is not moved
      const other = await ledger.targetSchedules.set({ target: "offsite", cron: "0 4 * * *", slices: 3, created_by: "U2" });
      expect(other.schedule).toMatchObject({ slices: 3, next_slice: 1, round_started_at: null });
      expect((await ledger.targetSchedules.forTarget("offsite"))!.id).toBe(other.schedule.id);
      expect((await ledger.targetSchedules.get(schedule.id))!.removed_at).toBe(clock.now());
      await ledger.targetSchedules.set({ target: "local", cron: "0 5 * * *", slices: 1, created_by: "U1" });
      expect((await ledger.targetSchedules.live()).map((t) => t.target)).toEqual(["local", "offsite"]);
      expect((await ledger.targetSchedules.remove("offsite"))!.id).toBe(other.schedule.id);
      expect(await ledger.targetSchedules.remove("offsite")).toBeUndefined();
      expect(await ledger.targetSchedules.forTarget("offsite")).toBeUndefined();
      expect(await ledger.targetSchedules.get(999_999)).toBeUndefined();
    });

    it("advance to slice 1 ends the round; ran and settled as for server schedules", async () => {
      const { ledger, server } = await withServer();
      const { schedule } = await ledger.targetSchedules.set({ target: "nas", cron: "0 3 * * *", slices: 2, created_by: "U1" });
      await ledger.targetSchedules.beginRound(schedule.id, 500);
      expect(await ledger.targetSchedules.advance(schedule.id, 1, 2)).toBe(true);
      expect(await ledger.targetSchedules.advance(schedule.id, 2, 1)).toBe(true);
      expect(await ledger.targetSchedules.get(schedule.id)).toMatchObject({ next_slice: 1, round_started_at: null });
      const op = await ledger.operations.insert({ kind: "verify", server_id: server.id, requested_by: "scheduler" });
      await ledger.targetSchedules.ran(schedule.id, 60_000, "started", op.id, "slice 1/2");
      await ledger.targetSchedules.settled(schedule.id, op.id + 1, "failed"); // not its run
      expect(await ledger.targetSchedules.get(schedule.id)).toMatchObject({ last_run_at: 60_000, last_status: "started", last_operation_id: op.id, last_message: "slice 1/2" });
      await ledger.targetSchedules.settled(schedule.id, op.id, "failed", "2 broken");
      expect(await ledger.targetSchedules.get(schedule.id)).toMatchObject({ last_status: "failed", last_message: "2 broken" });
    });
  });
}
