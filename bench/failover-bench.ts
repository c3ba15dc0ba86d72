import { join, resolve } from "node:path";
import { mkdirSync, rmSync } from "node:fs";
import { startPostgres } from "../test/helpers/postgres.ts";
import { startFakeSlack } from "../test/helpers/fake-slack.ts";
import { haConfig, leaderOf, startReplica, type ReplicaProcess } from "../test/helpers/replicas.ts";
import { median, round } from "./measure.ts";

// npm run bench -- ledger, failover: three snapbot processes on one PostgreSQL (the README's HA setup, Slack HTTP
// mode against a local fake Web API); the leader SIGKILLed KILLS times, each time a replacement started so three
// run again. Measured: from the kill to another replica's /healthz saying "leader" (its scheduler starts then).

const KILLS = Number(process.env.BENCH_FAILOVER_KILLS ?? 10);

export async function benchFailover(o: { dir: string }): Promise<Record<string, number | string>> {
  const root = join(o.dir, "failover");
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const pg = await startPostgres(join(root, "pg"));
  const fake = await startFakeSlack();
  const alive: ReplicaProcess[] = [];
  try {
    pg.sql("postgres", "CREATE DATABASE failover");
    const db = pg.url("failover");
    const config = haConfig(join(root, "c"), ["web"]);
    let n = 0;
    // The compiled bot beside this compiled bench (dist/src/main.js), as npm start runs it.
    const entry = [resolve(import.meta.dirname, "../src/main.js")];
    const start = () => startReplica(`r${n}`, join(root, `r${n++}`), { db, config, fake, entry });
    for (let i = 0; i < 3; i++) alive.push(await start());
    const times: number[] = [];
    for (let i = 0; i < KILLS; i++) {
      const leader = await leaderOf(alive);
      const t = performance.now();
      leader.bot.child.kill("SIGKILL");
      alive.splice(alive.indexOf(leader), 1);
      await leaderOf(alive, 30_000);
      times.push(performance.now() - t);
      await leader.bot.exit;
      alive.push(await start());
    }
    return {
      kills: KILLS,
      "failover median ms (SIGKILL → new leader)": round(median(times)),
      "failover max ms": round(Math.max(...times)),
      "failover target 15000 ms": Math.max(...times) < 15_000 ? "met" : "MISSED",
    };
  } finally {
    for (const r of alive) r.bot.child.kill("SIGKILL");
    await fake.close();
    pg.stop();
  }
}
