import { afterEach, expect, it } from "vitest";
import { createPostgresLedger } from "../../db/postgres/postgres-ledger.ts";
import type { Ledger } from "../../db/ledger.ts";
import { fakeClock } from "../../src/clock.ts";
import { describePostgres } from "../helpers/postgres.ts";
import { freshDatabase } from "../helpers/pg-ledger.ts";

// Replicas on one PostgreSQL database (db/postgres/coordination.ts): heartbeats by the database's clock, leases that
// lapse with their replica, the work of a dead replica (and only it) found as interrupted, one leader by lock.

const open: Ledger[] = [];
afterEach(async () => {
  for (const l of open.splice(0)) await l.close().catch(() => undefined);
});

async function replicas(n: number) {
  const url = await freshDatabase("coord");
  const clock = fakeClock(Date.UTC(2026, 11, 7));
  const out: Ledger[] = [];
  for (let i = 0; i < n; i++) {
    const l = await createPostgresLedger(url, clock, { max: 3, replica: `r${i}` });
    open.push(l);
    out.push(l);
  }
  await out[0]!.servers.syncFromConfig([{ name: "demo", driver: "archive", settings: {} }]);
  return { ledgers: out, clock, server: (await out[0]!.servers.get("demo"))! };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** One lease: null when taken, else who holds it. */
const take = async (l: Ledger, key: string, label: string, since: number) => (await l.coordination.acquire([{ key, label }], since))[0];

describePostgres("postgres coordination", () => {
  it("a lease is one replica's: the other is told who holds it and for what, and gets it once released", async () => {
    const { ledgers: [a, b] } = await replicas(2);
    await a!.coordination.heartbeat(10_000);
    await b!.coordination.heartbeat(10_000);
    expect(await take(a!, "demo", "create demo/s1", 1000)).toBeNull();
    await a!.coordination.attach([{ key: "demo", operationId: 7 }]);
    expect(await take(b!, "demo", "restore demo/s1", 2000)).toEqual({ key: "demo", replica: "r0", label: "create demo/s1", since: 1000, operationId: 7 });
    expect(await take(a!, "demo", "again", 3000)).toBeNull(); // its own lease (a release that never arrived)
    await b!.coordination.release("demo"); // not b's: changes nothing
    expect((await take(b!, "demo", "x", 4000))?.replica).toBe("r0");
    await a!.coordination.release("demo");
    expect(await take(b!, "demo", "restore demo/s1", 5000)).toBeNull();
    expect(await a!.coordination.alive()).toEqual(["r0", "r1"]);
  });

  it("two replicas racing for one lease: exactly one wins", async () => {
    const { ledgers } = await replicas(3);
    for (const l of ledgers) await l.coordination.heartbeat(10_000);
    const answers = await Promise.all(ledgers.flatMap((l) => [1, 2, 3].map((i) => take(l, `k${i}`, l.coordination.replica, 0))));
    for (const i of [0, 1, 2]) {
      const forKey = [0, 1, 2].map((r) => answers[r * 3 + i]);
      expect(forKey.filter((x) => x === null)).toHaveLength(1);
    }
  });

  it("many leases in one call: each key answered on its own (free, its own, a live holder's, a dead holder's), and racing batches never share a key", async () => {
    const { ledgers: [a, b, c] } = await replicas(3);
    await a!.coordination.heartbeat(60_000);
    await b!.coordination.heartbeat(60_000);
    await c!.coordination.heartbeat(300);
    expect(await a!.coordination.acquire([], 0)).toEqual([]);
    expect(await take(b!, "held", "verify held", 10)).toBeNull();
    await b!.coordination.attach([{ key: "held", operationId: 9 }]);
    expect(await take(c!, "dead", "verify dead", 20)).toBeNull();
    expect(await take(a!, "mine", "prune mine", 30)).toBeNull();
    await sleep(500); // c's heartbeat lapses
    const got = await a!.coordination.acquire(
      ["free", "held", "dead", "mine"].map((key) => ({ key, label: `create ${key}/s1` })),
      100,
    );
    expect(got).toEqual([null, { key: "held", replica: "r1", label: "verify held", since: 10, operationId: 9 }, null, null]);
    await a!.coordination.attach([{ key: "free", operationId: 1 }, { key: "dead", operationId: 2 }, { key: "held", operationId: 3 }]); // held: not a's, unchanged
    expect(await take(b!, "free", "x", 0)).toEqual({ key: "free", replica: "r0", label: "create free/s1", since: 100, operationId: 1 });
    expect(await take(b!, "dead", "x", 0)).toMatchObject({ replica: "r0", operationId: 2 });
    expect(await take(a!, "held", "x", 0)).toMatchObject({ replica: "r1", operationId: 9 });
    // Two replicas' batches over the same 50 keys at once: every key is exactly one replica's.
    await c!.coordination.heartbeat(60_000);
    const keys = Array.from({ length: 50 }, (_, i) => ({ key: `race-${i}`, label: "create" }));
    const [ra, rc] = await Promise.all([a!.coordination.acquire(keys, 0), c!.coordination.acquire([...keys].reverse(), 0)]);
    const cByKey = new Map([...keys].reverse().map((k, i) => [k.key, rc[i]]));
    for (const [i, k] of keys.entries()) {
      expect([ra[i], cByKey.get(k.key)].filter((x) => x === null), k.key).toHaveLength(1);
      const holder = ra[i] ?? cByKey.get(k.key)!;
      expect(holder.replica).toBe(ra[i] === null ? "r0" : "r2"); // the loser is told the winner
    }
  });

  it("a replica that stops its heartbeat loses its leases, and its running work (only its) is found interrupted", async () => {
    const { ledgers: [a, b], server } = await replicas(2);
    await a!.coordination.heartbeat(400);
    await b!.coordination.heartbeat(60_000);
    await take(a!, "demo", "create demo/s1", 0);
    const snap = await a!.snapshots.insert({ server_id: server.id, name: "s1", created_by: "U1" });
    const aOp = await a!.operations.insert({ kind: "create", server_id: server.id, snapshot_id: snap.id, requested_by: "U1", state: "running" });
    const bOp = await b!.operations.insert({ kind: "verify", server_id: server.id, requested_by: "U1", state: "running" });
    expect(await b!.operations.interrupted()).toEqual([]);
    expect(await b!.snapshots.unfinished()).toEqual([]); // a's lease on demo and a's live operation hold it
    expect((await take(b!, "demo", "verify", 0))?.replica).toBe("r0");
    await sleep(600); // a's heartbeat lapses
    expect((await b!.operations.interrupted()).map((o) => o.id)).toEqual([aOp.id]);
    expect((await b!.snapshots.unfinished()).map((s) => s.id)).toEqual([snap.id]);
    expect(await take(b!, "demo", "verify", 0)).toBeNull(); // the dead replica's lease is free
    expect(await b!.coordination.alive()).toEqual(["r1"]);
    expect(await a!.coordination.heartbeat(400)).toEqual({ lapsed: true }); // a learns it may have lost its leases
    expect(await a!.coordination.heartbeat(400)).toEqual({ lapsed: false });
    expect(bOp.state).toBe("running");
  });

  it("the replica that starts an approved operation owns it, wherever it was requested", async () => {
    const { ledgers: [a, b], server } = await replicas(2);
    await a!.coordination.heartbeat(400);
    await b!.coordination.heartbeat(60_000);
    const op = await a!.operations.insert({ kind: "restore", server_id: server.id, requested_by: "U1", state: "awaiting_approval" });
    await b!.operations.transition(op.id, "queued", { approved_by: "U2" });
    await b!.operations.transition(op.id, "running");
    await sleep(600); // the requesting replica dies; the one running it lives
    expect(await b!.operations.interrupted()).toEqual([]);
  });

  it("one leader at a time; when its connection dies another replica takes over at its next try", async () => {
    const { ledgers: [a, b, c] } = await replicas(3);
    expect(await a!.coordination.lead()).toBe(true);
    expect(await b!.coordination.lead()).toBe(false);
    expect(await c!.coordination.lead()).toBe(false);
    expect(await a!.coordination.lead()).toBe(true); // still
    await a!.coordination.resign();
    expect(await a!.coordination.lead()).toBe(true); // free again: the first to try (a) takes it
    await a!.close(); // the process is gone: its session, and the lock with it
    const t0 = Date.now();
    const who = await Promise.all([b!.coordination.lead(), c!.coordination.lead()]);
    expect(who.filter(Boolean)).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("an alert's post claimed by a live replica is not taken; a dead one's claim is taken over, and said so", async () => {
    const { ledgers: [a, b] } = await replicas(2);
    await a!.coordination.heartbeat(400);
    await b!.coordination.heartbeat(60_000);
    const { alert } = await a!.alerts.raise({ kind: "snapshot_failed", key: "snapshot_failed:demo:", server_id: null, snapshot_id: null, message: "m", channel: "C1" });
    expect(await a!.alerts.claimPosts([alert.id], "r0")).toEqual({ claimed: [alert.id], tookOver: [] });
    expect(await b!.alerts.claimPosts([alert.id], "r1")).toEqual({ claimed: [], tookOver: [] }); // r0 is posting it
    await sleep(600); // r0 dies mid-post: did Slack get it? The taker must look before posting again
    expect(await b!.alerts.claimPosts([alert.id], "r1")).toEqual({ claimed: [alert.id], tookOver: [alert.id] });
  });

  it("leave() frees the leases and the leadership at once", async () => {
    const { ledgers: [a, b] } = await replicas(2);
    await a!.coordination.heartbeat(60_000);
    await b!.coordination.heartbeat(60_000);
    await take(a!, "demo", "create", 0);
    expect(await a!.coordination.lead()).toBe(true);
    await a!.coordination.leave();
    expect(await take(b!, "demo", "verify", 0)).toBeNull();
    expect(await b!.coordination.lead()).toBe(true);
    expect(await b!.coordination.alive()).toEqual(["r1"]);
  });
});
