import { describe, expect, it } from "vitest";
import { createJobRunner } from "../../../src/engine/operations/job-runner.ts";
import { fakeClock } from "../../../src/clock.ts";
import { UserError } from "../../../src/errors.ts";

const gate = () => {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
};

describe("job runner", () => {
  it("refuses a second operation on a busy server, saying what holds it, and frees it after", async () => {
    const jobs = createJobRunner({ concurrency: 2, timeoutMs: 60_000, clock: fakeClock() });
    const g = gate();
    const lease = await jobs.lease("demo", "create demo/a");
    lease.opId = 7;
    const job = jobs.run(lease, () => g.p.then(() => "ok"));
    await expect(jobs.lease("demo", "create demo/b")).rejects.toThrow(UserError);
    await expect(jobs.lease("demo", "create demo/b")).rejects.toThrow(/demo is busy: create demo\/a \(operation #7\)/);
    const other = await jobs.lease("other", "x"); // other servers are not blocked
    jobs.release(other);
    g.open();
    await expect(job.done).resolves.toBe("ok");
    jobs.release(await jobs.lease("demo", "again"));
  });

  it("runs at most `concurrency` jobs at once; the rest wait their turn", async () => {
    const jobs = createJobRunner({ concurrency: 2, timeoutMs: 60_000, clock: fakeClock() });
    let running = 0;
    let peak = 0;
    const gates = [gate(), gate(), gate(), gate()];
    const started: number[] = [];
    const all = [];
    for (const [i, g] of gates.entries())
      all.push(
        jobs.run(await jobs.lease(`s${i}`, "x"), async () => {
          started.push(i);
          peak = Math.max(peak, ++running);
          await g.p;
          running--;
        }, undefined),
      );
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual([0, 1]);
    gates[0]!.open();
    await all[0]!.done;
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual([0, 1, 2]);
    gates.forEach((g) => g.open());
    await jobs.idle();
    expect(peak).toBe(2);
  });

  it("claimSlot takes a free slot for a caller that records the start itself, and counts it like any other", async () => {
    const jobs = createJobRunner({ concurrency: 2, timeoutMs: 60_000, clock: fakeClock() });
    const g = gate();
    expect(jobs.claimSlot()).toBe(true);
    const first = jobs.run(await jobs.lease("a", "x"), () => g.p, undefined, undefined, { slotHeld: true });
    let started = false;
    first.on("started", () => (started = true)); // attached after run(): the work never starts synchronously
    expect(jobs.claimSlot()).toBe(true);
    expect(jobs.claimSlot()).toBe(false); // both slots taken
    jobs.releaseSlot(); // the second caller's recording failed: its slot comes back
    const later: string[] = [];
    const second = jobs.run(await jobs.lease("b", "x"), async () => void later.push("b"));
    await second.done;
    expect(later).toEqual(["b"]);
    expect(started).toBe(true);
    g.open();
    await first.done;
    expect(jobs.claimSlot()).toBe(true); // first's slot was freed when it ended, exactly once
    expect(jobs.claimSlot()).toBe(true);
    expect(jobs.claimSlot()).toBe(false);
  });

  it("claimSlot refuses during a forced stop, so nothing starts as running after abortAll", async () => {
    const jobs = createJobRunner({ concurrency: 2, timeoutMs: 60_000, clock: fakeClock() });
    await jobs.abortAll(new Error("stopping"));
    expect(jobs.claimSlot()).toBe(false);
  });

  it("aborts the job's signal at its timeout and reports the timeout", async () => {
    const jobs = createJobRunner({ concurrency: 1, timeoutMs: 50, clock: fakeClock() });
    const job = jobs.run(await jobs.lease("demo", "hang"), (ctx) => new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))));
    await expect(job.done).rejects.toThrow(/timed out after 50ms/);
    expect(jobs.busy("demo")).toBeUndefined();
  });

  it("emits started and progress events and frees the lease when work throws", async () => {
    const jobs = createJobRunner({ concurrency: 1, timeoutMs: 60_000, clock: fakeClock() });
    const job = jobs.run(await jobs.lease("demo", "x"), async (ctx) => {
      ctx.progress({ stage: "archiving", bytes: 10 });
      throw new Error("boom");
    });
    const events: string[] = [];
    job.on("started", () => events.push("started"));
    job.on("progress", (p) => events.push(`${p.stage}:${p.bytes}`));
    await expect(job.done).rejects.toThrow("boom");
    expect(events).toEqual(["started", "archiving:10"]);
    expect(jobs.busy("demo")).toBeUndefined();
  });
});
