import { afterEach, expect, it, onTestFailed } from "vitest";
import { join } from "node:path";
import { createPostgresLedger } from "../../db/postgres/postgres-ledger.ts";
import type { Ledger } from "../../db/ledger.ts";
import { systemClock } from "../../src/clock.ts";
import { describePostgres } from "../helpers/postgres.ts";
import { freshDatabase } from "../helpers/pg-ledger.ts";
import { startFakeSlack, type FakeSlack } from "../helpers/fake-slack.ts";
import { APP_TOKEN, buttonsIn, waitPosted, waitUpdated } from "../helpers/slack-bot.ts";
import { clickPayload, newTrigger } from "../helpers/slack-signer.ts";
import { haConfig, startReplica, type ReplicaProcess } from "../helpers/replicas.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// Replicas in Socket Mode (issue 14): each opens its own connection and Slack spreads the envelopes over them. A
// command reaches one replica, a redelivery of it may reach another (the ledger's deliveries drop it), and an
// approval requested through one connection is decided through another.

const root = tempDir("snapbot-replicas-socket-");
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const slash = (text: string, user: string, responseUrl: string, triggerId = newTrigger()) => ({
  token: "x", team_id: "T0TEST", channel_id: "C0OPS", channel_name: "ops", user_id: user, user_name: user.toLowerCase(), command: "/snapshot", text,
  response_url: responseUrl, trigger_id: triggerId, api_app_id: "A0TEST",
});
let envelopes = 0;
/** An envelope sent to the `to`-th connection; resolves once that connection acked it. */
async function deliver(fake: FakeSlack, to: number, type: "slash_commands" | "interactive", payload: unknown, id = `env-${++envelopes}`): Promise<string> {
  fake.socket.send({ envelope_id: id, type, accepts_response_payload: type === "slash_commands", payload }, to);
  await fake.waitFor(() => fake.socket.ackedOn(id).includes(to) || undefined, 10_000, `the ack of ${id} on connection ${to}`);
  return id;
}

describePostgres("replicas in Socket Mode on one PostgreSQL", () => {
  it("one connection per replica: a command is answered by the replica it reaches, its redelivery to another is dropped, and an approval crosses replicas", async () => {
    const db = await freshDatabase("ha_socket");
    const dir = join(root, "c1");
    const config = haConfig(dir, ["web"]);
    const fake = await startFakeSlack();
    cleanup.push(() => fake.close());
    const replicas: ReplicaProcess[] = [];
    onTestFailed(() => {
      for (const r of replicas) console.log(`--- ${r.name} ---\n${r.bot.out().slice(-4000)}${r.bot.err().slice(-2000)}`);
    });
    // Started one after the other, so the fake's connection i is replica i's.
    for (const name of ["a", "b"]) {
      const r = await startReplica(name, join(dir, name), { db, config, fake, env: { SLACK_APP_TOKEN: APP_TOKEN } });
      cleanup.push(() => void r.bot.child.kill("SIGKILL"));
      replicas.push(r);
      await fake.waitFor(() => fake.socket.connections() === replicas.length || undefined, 20_000, `${name}'s Socket Mode connection`);
    }
    expect(fake.callsTo("apps.connections.open")).toHaveLength(2);
    const ledger: Ledger = await createPostgresLedger(db, systemClock, { max: 2 });
    cleanup.push(() => ledger.close());

    // A create through a's connection; Slack redelivers it (no ack seen in time) through b's: one create, one answer.
    const createUrl = fake.responseUrl("create");
    const create = slash("create web s1", "U0OPER", createUrl);
    const id = await deliver(fake, 0, "slash_commands", create);
    await deliver(fake, 1, "slash_commands", create, id);
    const posted = await waitPosted(fake, "C0OPS", /create web\/s1 \(operation #1/, 20_000);
    await waitUpdated(fake, String(posted.answer!.ts), /web\/s1 done/, 30_000);
    const web = (await ledger.servers.get("web"))!;
    expect((await ledger.snapshots.findLive(web.id, "s1"))?.state).toBe("done");
    await new Promise((r) => setTimeout(r, 1000)); // time for a second create, were the redelivery run
    const creates = (await ledger.operations.list({ limit: 50 })).filter((o) => o.kind === "create");
    expect(creates.map((o) => o.state)).toEqual(["succeeded"]);
    expect(fake.calls.filter((c) => c.method === "chat.postMessage" && /^create web\/s1/.test(String(c.body.text)))).toHaveLength(1);
    expect(fake.calls.filter((c) => c.path.endsWith("/respond/create"))).toHaveLength(0); // answered in the ack and the post, once

    // Requested through b, approved through a by a second person: the restore runs once.
    await deliver(fake, 1, "slash_commands", slash("restore web/s1", "U0OPER", fake.responseUrl("restore")));
    const request = await waitPosted(fake, "C0OPS", /Approval needed: restore web\/s1/, 20_000);
    const ts = String(request.answer!.ts);
    const [approve] = buttonsIn(request.body);
    const click = clickPayload({ button: approve!, user: "U0ALICE", messageTs: ts, message: { type: "message", ts, text: request.body.text }, responseUrl: fake.responseUrl("approve") });
    await deliver(fake, 0, "interactive", click);
    await waitUpdated(fake, ts, /restore web\/s1 done/, 30_000);
    const restores = (await ledger.operations.list({ limit: 50 })).filter((o) => o.kind === "restore");
    expect(restores.map((o) => [o.state, o.approved_by])).toEqual([["succeeded", "U0ALICE"]]);
  }, 120_000);
});
