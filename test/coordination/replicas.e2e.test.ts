import { afterEach, expect, it, onTestFailed } from "vitest";
import { join } from "node:path";
import { rmSync } from "node:fs";
import { createPostgresLedger } from "../../db/postgres/postgres-ledger.ts";
import type { Ledger, OperationRow, SnapshotRow } from "../../db/ledger.ts";
import { systemClock } from "../../src/clock.ts";
import { describePostgres, startPostgres } from "../helpers/postgres.ts";
import { freshDatabase } from "../helpers/pg-ledger.ts";
import { startFakeSlack, type FakeSlack } from "../helpers/fake-slack.ts";
import { buttonsIn, shown, sleep, until, waitPosted, waitResponse, waitUpdated } from "../helpers/slack-bot.ts";
import { actionBody, clickPayload, postToBot } from "../helpers/slack-signer.ts";
import { haConfig, leaderOf, startReplica, type ReplicaProcess } from "../helpers/replicas.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// Three snapbot processes on one PostgreSQL 15 (issue 14): one leader runs the scheduler; a leader killed with
// SIGKILL is replaced within seconds and no scheduled minute is lost or run twice; an approval clicked on two
// replicas at once runs once; PostgreSQL going away for 20 s is said clearly and survived without a restart.

const root = tempDir("snapbot-replicas-");
let n = 0;
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function cluster(db: string, servers: string[], count = 3) {
  const dir = join(root, `c${++n}`);
  const config = haConfig(dir, servers);
  const fake = await startFakeSlack();
  cleanup.push(() => fake.close());
  const replicas: ReplicaProcess[] = [];
  const start = async (name: string) => {
    const r = await startReplica(name, join(dir, name), { db, config, fake });
    cleanup.push(() => void r.bot.child.kill("SIGKILL"));
    return r;
  };
  for (let i = 0; i < count; i++) replicas.push(await start(`r${i}`));
  // A failure shows what each replica said (its JSON log lines), the last of them.
  onTestFailed(() => {
    for (const r of replicas) console.log(`--- ${r.name} ---\n${r.bot.out().slice(-4000)}${r.bot.err().slice(-2000)}`);
  });
  const ledger = await createPostgresLedger(db, systemClock, { max: 2 });
  cleanup.push(() => ledger.close());
  return { dir, fake, replicas, start, ledger };
}

async function allOperations(ledger: Ledger): Promise<OperationRow[]> {
  return (await ledger.operations.list({ limit: 100_000 })).reverse();
}
async function snapshotsOf(ledger: Ledger, server: string): Promise<SnapshotRow[]> {
  const s = (await ledger.servers.get(server))!;
  return (await ledger.snapshots.list(s.id, { all: true, limit: 100_000, offset: 0 })).rows.reverse();
}
const answer = async (fake: FakeSlack, responseUrl: string) => String((await waitResponse(fake, responseUrl, 20_000)).body.text ?? "");

describePostgres("replicas on one PostgreSQL", () => {
  it(
    "an every-minute schedule for 5 minutes with the leader SIGKILLed at a random second of each minute: one snapshot per server per minute, every interrupted operation reported",
    async () => {
      const servers = ["web", "db"];
      const { fake, replicas, start, ledger } = await cluster(await freshDatabase("ha_sched"), servers);
      const first = await leaderOf(replicas);
      for (const s of servers) {
        await first.slash(`schedule ${s} "* * * * *"`);
        await waitPosted(fake, "C0OPS", new RegExp(`${s}: snapshots on "\\* \\* \\* \\* \\*"`), 20_000);
      }
      expect((await ledger.schedules.live()).map((s) => s.server).sort()).toEqual(["db", "web"]);
      const m0 = Math.ceil((Date.now() + 2000) / 60_000) * 60_000; // the first whole minute the schedules run
      const failovers: number[] = [];
      let alive = [...replicas];
      for (let i = 0; i < 5; i++) {
        const at = m0 + i * 60_000 + Math.floor(Math.random() * 60_000);
        await sleep(Math.max(0, at - Date.now()));
        const leader = await leaderOf(alive);
        const killed = Date.now();
        leader.bot.child.kill("SIGKILL");
        await leader.bot.exit;
        alive = alive.filter((r) => r !== leader);
        await leaderOf(alive, 15_000); // failover within 15 s
        failovers.push(Date.now() - killed);
        alive.push(await start(`r${3 + i}`)); // three replicas again
      }
      // The last minute's runs, and the leader's sweep of the last dead replica's work (its heartbeat lapses in 15 s).
      await sleep(Math.max(0, m0 + 5 * 60_000 + 5_000 - Date.now()));
      await until(async () => (await allOperations(ledger)).every((o) => o.state !== "running" && o.state !== "queued"), 40_000, "no operation left running");
      console.log(`failover (leader killed → another leads), ms: ${failovers.join(", ")}`);
      for (const f of failovers) expect(f).toBeLessThan(15_000);

      for (const s of servers) {
        const byMinute = new Map<number, SnapshotRow[]>();
        for (const snap of await snapshotsOf(ledger, s)) {
          const m = Math.floor(snap.created_at / 60_000) * 60_000;
          byMinute.set(m, [...(byMinute.get(m) ?? []), snap]);
        }
        for (let i = 0; i < 5; i++) {
          const got = byMinute.get(m0 + i * 60_000) ?? [];
          expect(got.map((x) => `${x.name} ${x.state}`), `${s}, minute ${i + 1}`).toHaveLength(1);
        }
        expect([...byMinute.keys()].filter((m) => m < m0)).toEqual([]);
      }
      // Whatever a killed leader was running is settled as interrupted and said in the alerts channel.
      const interrupted = (await allOperations(ledger)).filter((o) => /interrupted/.test(o.error ?? ""));
      const said = fake.calls.filter((c) => c.method === "chat.postMessage" && c.body.channel === "C0ALERTS").map((c) => shown(c.body) + String(c.body.text ?? ""));
      for (const op of interrupted) expect(said.some((t) => t.includes(`operation #${op.id} `)), `operation #${op.id} reported`).toBe(true);
    },
    10 * 60_000,
  );

  it("the same restore approved on two replicas at once runs once; the other approver is told who decided", async () => {
    const { fake, replicas, ledger } = await cluster(await freshDatabase("ha_approve"), ["web"]);
    const [a, b, c] = replicas as [ReplicaProcess, ReplicaProcess, ReplicaProcess];
    await a.slash("create web s1");
    await until(async () => (await snapshotsOf(ledger, "web")).find((s) => s.state === "done"), 30_000, "web/s1 done");
    await a.slash("restore web/s1", { user: "U0OPER" });
    const request = await waitPosted(fake, "C0OPS", /Approval needed: restore web\/s1/, 20_000);
    const ts = String(request.answer!.ts);
    const [approve] = buttonsIn(request.body);
    const click = (r: ReplicaProcess, user: string) => {
      const responseUrl = fake.responseUrl();
      const body = actionBody(clickPayload({ button: approve!, user, messageTs: ts, message: { type: "message", ts, text: request.body.text }, responseUrl }));
      return postToBot(r.url, body).then((res) => ({ ...res, responseUrl }));
    };
    const clicks = await Promise.all([click(b, "U0ALICE"), click(c, "U0BOB")]);
    for (const k of clicks) expect(k.status).toBe(200);
    const restore = await until(async () => (await allOperations(ledger)).find((o) => o.kind === "restore" && (o.state === "succeeded" || o.state === "failed")), 30_000, "the restore to end");
    expect(restore.state).toBe("succeeded");
    await sleep(1000);
    const restores = (await allOperations(ledger)).filter((o) => o.kind === "restore");
    expect(restores.map((o) => o.state)).toEqual(["succeeded"]);
    const approval = (await ledger.approvals.get(1))!;
    expect(approval.state).toBe("approved");
    expect(restore.approved_by).toBe(approval.decided_by);
    const loser = clicks.find((_, i) => (i === 0 ? "U0ALICE" : "U0BOB") !== approval.decided_by)!;
    expect(await answer(fake, loser.responseUrl)).toMatch(new RegExp(`^approval #1 was already approved by <@${approval.decided_by}> at `));
    await waitUpdated(fake, ts, /restore web\/s1 done/, 20_000);
  }, 120_000);

  it("a burst of 200 alerts with the leader killed mid-burst: every alert posted once, by whichever replica leads", async () => {
    const servers = Array.from({ length: 200 }, (_, i) => `srv-${i + 1}`);
    const { dir, fake, replicas, ledger } = await cluster(await freshDatabase("ha_alerts"), servers);
    rmSync(join(dir, "sites"), { recursive: true }); // every create fails: one snapshot_failed alert per server
    const leader = await leaderOf(replicas);
    const followers = replicas.filter((r) => r !== leader);
    let sent = 0;
    let killedAt = 0;
    const burst = servers.map(async (name, i) => {
      const r = followers[i % followers.length]!;
      await sleep(i * 30); // about six seconds of requests
      expect((await r.slash(`create ${name} s1`)).status).toBe(200);
      sent++;
    });
    // Mid-burst, once the leader has posted some of their messages: killed.
    // The posts that announce alerts: top-level, not a replica's own "stopped"/"restarted" notice.
    const alertPosts = () => fake.calls.filter((c) => c.method === "chat.postMessage" && c.body.channel === "C0ALERTS" && !c.body.thread_ts && !/replica stopped|restarted/.test(String(c.body.text)));
    await fake.waitFor(() => alertPosts().length > 0, 20_000, "the leader's first alert post");
    killedAt = Date.now();
    leader.bot.child.kill("SIGKILL");
    expect(sent).toBeLessThan(200);
    await Promise.all(burst);
    const open = async () => (await ledger.alerts.openPage(1000, 0)).rows.filter((a) => a.kind === "snapshot_failed");
    await until(async () => (await open()).length === 200, 60_000, "200 alerts raised");
    await until(async () => (await open()).every((a) => a.message_ref !== null), 90_000, "every alert posted");
    expect(await ledger.alerts.due()).toEqual([]);
    // Every top-level post in the alerts channel announces its alerts (one, or "N alerts" in a summary), and each
    // alert names exactly one of them: 200 announced in all means none was posted twice.
    const posts = alertPosts();
    const announced = posts.map((p) => ({ ts: String(p.answer?.ts), n: Number(/^(\d+) alerts/.exec(String(p.body.text))?.[1] ?? 1) }));
    expect(announced.reduce((sum, p) => sum + p.n, 0)).toBe(200);
    // Both sides of the kill: the killed leader had posted some, the next one posted the rest.
    expect(posts.filter((p) => p.at <= killedAt).length, "posts before the kill").toBeGreaterThan(0);
    expect(posts.filter((p) => p.at > killedAt).length, "posts after the kill").toBeGreaterThan(0);
    console.log(`alert posts: ${posts.length} (${posts.filter((p) => p.at <= killedAt).length} before the leader was killed), ${announced.map((p) => p.n).join("+")}`);
    const alerts = await open();
    for (const p of announced) expect(alerts.filter((a) => a.message_ref?.ts === p.ts)).toHaveLength(p.n);
  }, 180_000);

  it("PostgreSQL stopped for 20 s: clear errors meanwhile, no ledger row lost, and work again without a restart", async () => {
    const pg = await startPostgres(join(root, `pg${++n}`));
    cleanup.push(() => pg.stop());
    pg.sql("postgres", "CREATE DATABASE outage");
    const { fake, replicas, ledger } = await cluster(pg.url("outage"), ["web"], 2);
    const [a, b] = replicas as [ReplicaProcess, ReplicaProcess];
    await a.slash("create web before");
    await until(async () => (await snapshotsOf(ledger, "web")).find((s) => s.name === "before" && s.state === "done"), 30_000, "web/before done");
    const pids = replicas.map((r) => r.bot.child.pid);

    pg.down();
    const downAt = Date.now();
    await sleep(3000);
    const during = await b.slash("create web during");
    expect(await answer(fake, during.responseUrl)).toMatch(/cannot reach the ledger postgres:\/\/127\.0\.0\.1:\d+\/outage \(.+\): check that PostgreSQL runs there/);
    for (const r of replicas) {
      const h = await r.health();
      expect(h?.code).toBe(503);
      expect(h?.checks?.ledger).toMatch(/^failing: cannot reach the ledger/);
    }
    await sleep(Math.max(0, downAt + 20_000 - Date.now()));
    pg.up();

    const leader = await leaderOf(replicas, 30_000);
    await until(async () => (await Promise.all(replicas.map((r) => r.health()))).every((h) => h?.code === 200), 30_000, "every replica healthy again");
    await leader.slash("create web after");
    await waitPosted(fake, "C0OPS", /create web\/after/, 20_000); // a create is answered in the channel
    await until(async () => (await snapshotsOf(ledger, "web")).find((s) => s.name === "after" && s.state === "done"), 30_000, "web/after done");
    const names = (await snapshotsOf(ledger, "web")).map((s) => `${s.name} ${s.state}`);
    expect(names).toContain("before done"); // written before the outage, still there
    expect(names.filter((x) => x.startsWith("during"))).toEqual([]); // refused, not half-recorded
    expect(replicas.map((r) => r.bot.child.pid)).toEqual(pids); // nobody restarted
    for (const r of replicas) expect(r.bot.out() + r.bot.err()).not.toMatch(/\bat .*\.ts:\d+:\d+/); // no stack traces
  }, 180_000);
});
