import type { Logger } from "pino";
import type { AlertRepo } from "../../db/ledger.ts";
import type { ChatPort, MessageRef, Pacing } from "../chat/chat-port.ts";
import type { Reply } from "../reply.ts";
import { errorMessage } from "../errors.ts";

// What the alert sink sends, per channel, at the pace the chat allows: new alerts (several waiting at
// once → one summary), updates of posted messages (merged: at most one per message per updateIntervalMs)
// and thread replies for resolutions (those waiting under one message at once → one reply). A failed
// call is retried with backoff, then given up here: the ledger still owes it (AlertRepo.due), so the next
// resume() (the leader reads what is owed every few seconds, and at start) queues it again: a crash or a
// Slack outage delays a message, never drops it. A first post is claimed in the ledger before it is sent,
// so two processes never post the same alert (a dead one's claim is taken over).
// All timing goes through a Timer, so tests control it.

export interface Timer {
  now(): number;
  /** Calls fn after ms; returns what cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** Node's timers, unref'd: a queued alert never keeps the process alive (stop() delivers them). */
export const realTimer: Timer = {
  now: () => Date.now(),
  after(ms, fn) {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return () => clearTimeout(handle);
  },
};

export interface OutboxOptions {
  timer: Timer;
  pacing: Pacing;
  /** How long the first new alert of a quiet channel waits for others to share its message. */
  gatherMs: number;
  /** The first retry of a failed call waits this long, each next one twice as long (at most a minute). */
  retryMs: number;
  /** Tries of one message before it is given up. */
  maxAttempts: number;
}

/** What the messages say, read from the ledger when they are sent (so a message shows the latest state). */
export interface Renderer {
  /** The first message of these alerts: the alert's own, or a summary of several. */
  fresh(ids: number[]): Promise<Reply>;
  /** The current version of a posted message. */
  message(ref: MessageRef): Promise<Reply | null>;
  /** The thread reply for these resolved alerts. */
  resolutions(ids: number[]): Promise<Reply>;
}

interface Lane {
  channel: string;
  fresh: Set<number>; // waiting for their first message (in order)
  freshSince: number;
  posting: Set<number>; // in a post now
  resolved: Set<number>; // waiting for a thread reply under their message
  resolvedSince: number;
  dirty: Set<number>; // their message must show a change
  lastPost: number;
  lastUpdate: Map<string, number>; // by message ts
  retries: Map<string, { tries: number; notBefore: number }>; // by task: "fresh", "reply:<ts>", "update:<ts>"
  busy: boolean;
  planning: boolean; // reading the ledger to pick the next task
  again: boolean; // something changed while planning: plan again
  cancel: (() => void) | null;
}

interface Task {
  at: number;
  run: () => Promise<void>;
}

const MAX_BACKOFF_MS = 60_000;
/** The metadata event type of an alert's first message: its payload names the alert ids it shows. */
export const ALERT_EVENT = "snapbot_alert";
const KNOWN_REFS = 10_000; // a cache of the ledger's message_ref column

export function createOutbox(deps: { chat: ChatPort; alerts: AlertRepo; log: Logger; render: Renderer; replica: string }, o: OutboxOptions) {
  const { chat, log, render } = deps;
  const lanes = new Map<string, Lane>();
  const refs = new Map<number, MessageRef>(); // alert id → its message, once known
  let idleWaiters: Array<() => void> = [];
  let flushing = 0;
  let stopped = false;

  const lane = (channel: string): Lane => {
    let l = lanes.get(channel);
    if (!l) {
      l = { channel, fresh: new Set(), freshSince: 0, posting: new Set(), resolved: new Set(), resolvedSince: 0, dirty: new Set(), lastPost: -Infinity, lastUpdate: new Map(), retries: new Map(), busy: false, planning: false, again: false, cancel: null };
      lanes.set(channel, l);
    }
    return l;
  };
  const refOf = async (id: number): Promise<MessageRef | null> => {
    const known = refs.get(id);
    if (known) return known;
    const ref = (await deps.alerts.get(id))?.message_ref ?? null;
    if (ref) refs.set(id, ref);
    return ref;
  };
  const pending = (l: Lane, id: number) => l.posting.has(id) || l.fresh.has(id);
  const empty = (l: Lane) => !l.busy && !l.planning && !l.fresh.size && !l.posting.size && !l.resolved.size && !l.dirty.size;

  /** Ids grouped by the message that shows them; ids without one (and none coming) are dropped. */
  async function byMessage(l: Lane, ids: Iterable<number>, drop: (id: number) => void): Promise<Map<string, { ref: MessageRef; ids: number[] }>> {
    const groups = new Map<string, { ref: MessageRef; ids: number[] }>();
    for (const id of [...ids]) {
      const ref = await refOf(id);
      if (!ref) {
        if (!pending(l, id)) drop(id);
        continue;
      }
      const g = groups.get(ref.ts) ?? { ref, ids: [] };
      g.ids.push(id);
      groups.set(ref.ts, g);
    }
    return groups;
  }

  const notBefore = (l: Lane, task: string) => l.retries.get(task)?.notBefore ?? -Infinity;
  const gathered = (since: number) => (flushing ? -Infinity : since + o.gatherMs);

  /** The task due first; ties go to new alerts, then updates (the message says resolved), then thread replies. */
  async function nextTask(l: Lane): Promise<Task | null> {
    const tasks: Task[] = [];
    const postSlot = l.lastPost + o.pacing.postIntervalMs;
    if (l.fresh.size) tasks.push({ at: Math.max(gathered(l.freshSince), postSlot, notBefore(l, "fresh")), run: () => postFresh(l) });
    for (const g of (await byMessage(l, l.dirty, (id) => l.dirty.delete(id))).values()) {
      const slot = (l.lastUpdate.get(g.ref.ts) ?? -Infinity) + o.pacing.updateIntervalMs;
      tasks.push({ at: Math.max(slot, notBefore(l, `update:${g.ref.ts}`)), run: () => update(l, g.ref, g.ids) });
    }
    for (const g of (await byMessage(l, l.resolved, (id) => l.resolved.delete(id))).values())
      tasks.push({ at: Math.max(gathered(l.resolvedSince), postSlot, notBefore(l, `reply:${g.ref.ts}`)), run: () => postReply(l, g.ref, g.ids) });
    return tasks.reduce<Task | null>((best, t) => (!best || t.at < best.at ? t : best), null);
  }

  function pump(l: Lane): void {
    if (stopped || l.busy) return;
    if (l.planning) return void (l.again = true); // the plan under way is read again once it is made
    l.cancel?.();
    l.cancel = null;
    l.planning = true;
    void plan(l).catch((e: unknown) => {
      l.planning = l.again = false;
      log.warn({ channel: l.channel, err: errorMessage(e) }, "could not send an alert message");
      idleCheck();
    });
  }

  /** Picks the lane's next task (reading the ledger), then waits for its time or runs it. */
  async function plan(l: Lane): Promise<void> {
    let task: Task | null;
    try {
      task = await nextTask(l);
    } catch (e) {
      l.planning = l.again = false;
      if (stopped) return idleCheck();
      log.warn({ channel: l.channel, err: errorMessage(e) }, "alert messages dropped: the ledger could not be read");
      if (lanes.get(l.channel) === l) lanes.delete(l.channel);
      return idleCheck();
    }
    l.planning = false;
    if (stopped) return idleCheck();
    if (l.again) {
      l.again = false;
      return pump(l); // the lane changed while its ledger rows were read
    }
    if (!task) {
      const old = o.timer.now() - o.pacing.updateIntervalMs;
      l.lastUpdate.forEach((at, ts) => at < old && l.lastUpdate.delete(ts)); // only recent updates hold the next one back
      return idleCheck();
    }
    const wait = task.at - o.timer.now();
    if (wait > 0) return void (l.cancel = o.timer.after(wait, () => ((l.cancel = null), pump(l))));
    l.busy = true;
    void task
      .run()
      .catch((e: unknown) => log.warn({ channel: l.channel, err: errorMessage(e) }, "could not send an alert message"))
      .finally(() => {
        l.busy = false;
        pump(l);
      });
  }

  /** A failed try: retried later with backoff, or given up (false). */
  function failed(l: Lane, task: string, what: Record<string, unknown>): boolean {
    const r = l.retries.get(task) ?? { tries: 0, notBefore: 0 };
    r.tries++;
    if (r.tries >= o.maxAttempts) {
      l.retries.delete(task);
      log.warn({ channel: l.channel, task, tries: r.tries, ...what }, "gave up sending an alert message (the alert stays in the ledger)");
      return false;
    }
    r.notBefore = o.timer.now() + Math.min(MAX_BACKOFF_MS, o.retryMs * 2 ** (r.tries - 1));
    l.retries.set(task, r);
    return true;
  }

  async function postFresh(l: Lane): Promise<void> {
    const queued = [...l.fresh];
    l.fresh.clear();
    queued.forEach((id) => (l.posting.add(id), l.dirty.delete(id))); // the post shows their latest state
    let ref: MessageRef | null = null;
    let ids: number[] = [];
    try {
      // Only what this process may post: not posted since, and nobody alive posting it now.
      const claim = await deps.alerts.claimPosts(queued, deps.replica);
      ids = claim.claimed;
      // A dead process had claimed some: it may have posted them before it could record it. Found in the channel
      // (the alert ids travel as the message's metadata), they are recorded as posted, not posted again.
      if (claim.tookOver.length) ids = await adoptPosted(l.channel, ids, claim.tookOver);
      if (ids.length === 0) return;
      try {
        ref = await chat.post(l.channel, await render.fresh(ids), { metadata: { event_type: ALERT_EVENT, event_payload: { alerts: ids.join(",") } } });
      } finally {
        l.lastPost = o.timer.now();
        if (!ref) await deps.alerts.unclaimPosts(ids, deps.replica).catch(() => undefined); // owed again
      }
      if (ref) {
        l.retries.delete("fresh");
        // Still posting until the ledger has the message: a repeat meanwhile updates it instead of posting another.
        if (ids.length === 1) await deps.alerts.setMessage(ids[0]!, ref);
        else await deps.alerts.setMessageMany(ids, ref);
      }
    } finally {
      queued.forEach((id) => l.posting.delete(id));
    }
    if (ref) {
      if (refs.size > KNOWN_REFS) refs.clear();
      ids.forEach((id) => refs.set(id, ref));
      l.lastUpdate.set(ref.ts, l.lastPost);
      if (ids.length > 1) log.info({ channel: l.channel, alerts: ids.length, ts: ref.ts }, "posted one summary for a burst of alerts");
    } else if (failed(l, "fresh", { alerts: ids })) {
      l.fresh = new Set([...ids, ...l.fresh]); // first again, with those that came meanwhile
    }
  }

  /** The taken-over ids found already posted are recorded with their message; returns the ids still to post. */
  async function adoptPosted(channel: string, ids: number[], tookOver: number[]): Promise<number[]> {
    if (!chat.findPosted) return ids;
    let found;
    try {
      found = await chat.findPosted(channel, ALERT_EVENT);
    } catch (e) {
      log.warn({ channel, alerts: tookOver, err: errorMessage(e) }, "could not look for alert messages a stopped replica may have posted: posting them (maybe twice)");
      return ids;
    }
    const posted = new Map<number, MessageRef>();
    for (const f of found) for (const id of (f.payload.alerts ?? "").split(",").map(Number)) if (tookOver.includes(id) && !posted.has(id)) posted.set(id, f.ref);
    for (const [id, ref] of posted) {
      await deps.alerts.setMessage(id, ref);
      refs.set(id, ref);
    }
    if (posted.size) log.info({ channel, alerts: [...posted.keys()] }, "alert messages a stopped replica had posted: recorded, not posted again");
    return ids.filter((id) => !posted.has(id));
  }

  async function postReply(l: Lane, parent: MessageRef, ids: number[]): Promise<void> {
    ids.forEach((id) => l.resolved.delete(id));
    let ref: MessageRef | null = null;
    try {
      ref = await chat.post(parent.channel, await render.resolutions(ids), { threadTs: parent.ts });
    } finally {
      l.lastPost = o.timer.now();
    }
    if (ref) {
      l.retries.delete(`reply:${parent.ts}`);
      await deps.alerts.replied(ids);
    } else if (failed(l, `reply:${parent.ts}`, { alerts: ids, thread: parent.ts })) l.resolved = new Set([...ids, ...l.resolved]);
  }

  async function update(l: Lane, ref: MessageRef, ids: number[]): Promise<void> {
    ids.forEach((id) => l.dirty.delete(id));
    const owed = await deps.alerts.due(ids); // read before rendering: a change after it keeps the update owed
    const reply = await render.message(ref);
    if (!reply) return;
    let ok = false;
    try {
      ok = (await chat.update(ref, reply)) !== false;
    } finally {
      l.lastUpdate.set(ref.ts, o.timer.now());
    }
    if (ok) {
      l.retries.delete(`update:${ref.ts}`);
      for (const d of owed) if (d.update > 0) await deps.alerts.updated(d.id, d.update);
    } else if (failed(l, `update:${ref.ts}`, { alerts: ids, ts: ref.ts })) ids.forEach((id) => l.dirty.add(id));
  }

  function idleCheck(): void {
    if (![...lanes.values()].every(empty)) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    waiters.forEach((w) => w());
  }

  const idle = () => new Promise<void>((resolve) => (idleWaiters.push(resolve), idleCheck()));

  return {
    /** A new alert: its first message, alone or in a summary with others waiting for the same channel. */
    fresh(channel: string, id: number): void {
      const l = lane(channel);
      if (l.posting.has(id) || l.fresh.has(id)) return; // queued again by a resume(): once is enough
      if (!l.fresh.size) l.freshSince = o.timer.now();
      l.fresh.add(id);
      pump(l);
    },
    /** Is this alert waiting for its first message (so that message will show its latest state)? */
    pending(channel: string, id: number): boolean {
      const l = lanes.get(channel);
      return !!l && pending(l, id);
    },
    /** An alert's count or state changed: its message is updated (merged with other changes). */
    changed(channel: string, id: number): void {
      const l = lane(channel);
      if (l.fresh.has(id) || l.posting.has(id)) return; // not posted yet: the post shows it
      l.dirty.add(id);
      pump(l);
    },
    /** An alert was resolved: a thread reply under its message, and the message updated. */
    resolved(channel: string, id: number): void {
      const l = lane(channel);
      if (l.fresh.has(id)) return; // not posted yet: it is posted as resolved
      if (!l.resolved.size) l.resolvedSince = o.timer.now();
      l.resolved.add(id);
      l.dirty.add(id);
      pump(l);
    },
    /** Sends everything queued now (no gathering; pacing and retries still apply); resolves when nothing is left. */
    async flush(): Promise<void> {
      flushing++;
      try {
        lanes.forEach(pump);
        await idle();
      } finally {
        flushing--;
      }
    },
    /** Messages queued or in flight. */
    size(): number {
      let n = 0;
      for (const l of lanes.values()) n += l.fresh.size + l.posting.size + l.resolved.size + l.dirty.size;
      return n;
    },
    stop(): void {
      stopped = true;
      lanes.forEach((l) => l.cancel?.());
      lanes.clear();
      idleCheck();
    },
    /** Forgets what is queued (this process stops sending: another leads); the ledger still owes it. */
    drop(): void {
      lanes.forEach((l) => l.cancel?.());
      for (const [channel, l] of lanes) if (!l.busy && !l.planning) lanes.delete(channel);
      idleCheck();
    },
    isStopped: () => stopped,
    /** The message this alert was posted as, when this outbox posted it or has read it since (null: not known here). */
    knownRef: (id: number): MessageRef | null => refs.get(id) ?? null,
  };
}
export type Outbox = ReturnType<typeof createOutbox>;
