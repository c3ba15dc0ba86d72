import { expect, it, onTestFinished } from "vitest";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { createSqliteLedger } from "../../db/sqlite/sqlite-ledger.ts";
import { createAlertSink } from "../../src/alerts/alert-sink.ts";
import { ALERT_EVENT } from "../../src/alerts/alert-outbox.ts";
import type { ChatPort, FoundPost, MessageRef, PostOptions } from "../../src/chat/chat-port.ts";
import type { Reply } from "../../src/reply.ts";
import { systemClock } from "../../src/clock.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// A process died after Slack took an alert's first message but before the ledger recorded it (its claim is left):
// the process that takes the claim over looks for the message by its metadata and records it instead of posting it
// again; one it cannot find is posted, once; one it cannot look for is posted rather than lost.

const root = tempDir("snapbot-outbox-takeover-");

function setup(history: "found" | "empty" | "fails") {
  const ledger = createSqliteLedger(join(mkdtempSync(join(root, "l-")), "ledger.db"), systemClock);
  const posts: Array<{ channel: string; reply: Reply; options?: PostOptions }> = [];
  const earlier: FoundPost[] = [];
  let n = 0;
  const chat: ChatPort = {
    async post(channel, reply, options) {
      posts.push({ channel, reply, options });
      return { channel, ts: `2.${++n}` } satisfies MessageRef;
    },
    update: async () => true,
    async findPosted(channel, eventType) {
      if (history === "fails") throw new Error("missing_scope");
      return earlier.filter((p) => p.ref.channel === channel && eventType === ALERT_EVENT);
    },
  };
  // The process that raises the alert does not send (a follower); the leader's sink sends what the ledger owes.
  const sink = createAlertSink({ ledger, chat, log: pino({ level: "silent" }), defaultChannel: "C0ALERTS", sending: () => false });
  const leader = createAlertSink({ ledger, chat, log: pino({ level: "silent" }), defaultChannel: "C0ALERTS" });
  onTestFinished(async () => {
    await sink.stop(0);
    await leader.stop(0);
    await ledger.close();
  });
  return { ledger, sink, leader, posts, earlier };
}

async function raisedAndClaimedByADeadProcess(s: ReturnType<typeof setup>) {
  const server = await s.ledger.servers.register({ name: "demo", driver: "archive", settings: { paths: ["/srv"] }, channel: null }, "U0ADMIN");
  // Raised while this process does not send: the row owes its post (the leader's work).
  await s.sink.raise({ kind: "snapshot_failed", server, snapshotName: "s1", title: "create demo/s1 failed" });
  const [due] = await s.ledger.alerts.due();
  expect(due).toMatchObject({ channel: "C0ALERTS", post: true });
  expect((await s.ledger.alerts.claimPosts([due!.id], "host/1/dead")).claimed).toEqual([due!.id]); // then it died
  return due!.id;
}

it("a dead process's post found in the channel is recorded, not posted again", async () => {
  const s = setup("found");
  const id = await raisedAndClaimedByADeadProcess(s);
  s.earlier.push({ ref: { channel: "C0ALERTS", ts: "1.7" }, payload: { alerts: `${id + 40},${id}` } });
  expect(await s.leader.resume()).toBe(1);
  await s.leader.flush();
  expect(s.posts).toEqual([]);
  expect((await s.ledger.alerts.get(id))!.message_ref).toEqual({ channel: "C0ALERTS", ts: "1.7" });
  expect(await s.ledger.alerts.due()).toEqual([]);
});

it("not found: posted once, with the alert ids as the message's metadata", async () => {
  const s = setup("empty");
  const id = await raisedAndClaimedByADeadProcess(s);
  await s.leader.resume();
  await s.leader.flush();
  await s.leader.resume(); // asked again: nothing is owed any more
  await s.leader.flush();
  expect(s.posts).toHaveLength(1);
  expect(s.posts[0]!.options?.metadata).toEqual({ event_type: ALERT_EVENT, event_payload: { alerts: String(id) } });
  expect((await s.ledger.alerts.get(id))!.message_ref).toEqual({ channel: "C0ALERTS", ts: "2.1" });
});

it("the channel cannot be read (a missing scope): posted rather than lost", async () => {
  const s = setup("fails");
  const id = await raisedAndClaimedByADeadProcess(s);
  await s.leader.resume();
  await s.leader.flush();
  expect(s.posts).toHaveLength(1);
  expect((await s.ledger.alerts.get(id))!.message_ref).not.toBeNull();
});
