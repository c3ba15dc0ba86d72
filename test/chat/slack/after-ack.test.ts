import { describe, expect, it } from "vitest";
import { createAfterAck } from "../../../src/chat/slack/after-ack.ts";
import { createRecentDeliveries } from "../../../src/chat/slack/recent-deliveries.ts";
import { followMessage } from "../../../src/chat/slack/follow-message.ts";
import type { Follow, Reply } from "../../../src/reply.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("work after the ack", () => {
  it("starts queued work in order, one job a turn of the event loop", async () => {
    const q = createAfterAck();
    const order: number[] = [];
    await Promise.all([1, 2, 3].map((i) => q.run(async () => void order.push(i))));
    expect(order).toEqual([1, 2, 3]);
    expect(q.waiting()).toBe(0);
  });

  it("holds work while requests wait for their ack, and no longer than maxWaitMs", async () => {
    let pending = true;
    const q = createAfterAck({ acksPending: () => pending, maxWaitMs: 150 });
    let ran = 0;
    const job = q.run(async () => void ran++);
    await sleep(50);
    expect(ran).toBe(0);
    pending = false;
    await job;
    expect(ran).toBe(1);
    pending = true; // sustained load: work still moves after maxWaitMs
    const t0 = performance.now();
    await q.run(async () => void ran++);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });
});

describe("duplicate deliveries in memory", () => {
  it("sees a key once within the window, again after it", () => {
    let t = 0;
    const recent = createRecentDeliveries(1000, () => t);
    expect(recent.fresh("a")).toBe(true);
    expect(recent.fresh("a")).toBe(false);
    t = 999;
    expect(recent.fresh("b")).toBe(true);
    expect(recent.fresh("a")).toBe(false);
    t = 1500; // a is forgotten (the signature window rejects such old replays anyway); b is kept
    expect(recent.fresh("a")).toBe(true);
    expect(recent.fresh("b")).toBe(false);
    expect(recent.size()).toBe(2);
  });
});

describe("following a message", () => {
  const version = (title: string): Reply => ({ visibility: "channel", tone: "progress", title });
  function fakeFollow() {
    const listeners: Array<(r: Reply) => void> = [];
    let finish!: (r: Reply) => void;
    const follow: Follow = { subscribe: (l) => void listeners.push(l), done: new Promise((r) => (finish = r)) };
    return { follow, emit: (r: Reply) => listeners.forEach((l) => l(r)), finish };
  }

  it("sends at most one version per interval, the latest, and always the final one", async () => {
    const f = fakeFollow();
    const sent: Array<[string, number]> = [];
    const t0 = performance.now();
    const done = followMessage(f.follow, async (r) => void sent.push([r.title, performance.now() - t0]), 100);
    for (let i = 1; i <= 5; i++) f.emit(version(`v${i}`));
    await sleep(150);
    f.emit(version("v6"));
    f.emit(version("v7"));
    f.finish(version("final"));
    await done;
    expect(sent.map(([t]) => t)).toEqual(["v5", "final"]);
    expect(sent[0]![1]).toBeGreaterThanOrEqual(95);
    expect(sent[1]![1] - sent[0]![1]).toBeGreaterThanOrEqual(95);
  });

  it("does not send the final version twice, and survives a sender that fails", async () => {
    const f = fakeFollow();
    const sent: string[] = [];
    const done = followMessage(f.follow, async (r) => {
      sent.push(r.title);
      throw new Error("Slack is down");
    }, 10);
    f.emit(version("final"));
    f.finish(version("final"));
    await done;
    expect(sent).toEqual(["final"]);
  });
});
