import type { Logger } from "pino";
import type { Ledger } from "../../db/ledger.ts";
import type { AlertKind, AlertRow } from "../../db/ledger.ts";
import type { ServerRow } from "../../db/types.ts";
import type { ChatPort, MessageRef, Pacing } from "../chat/chat-port.ts";
import type { Button, Reply } from "../reply.ts";
import { alertKey } from "../../db/alert-keys.ts";
import { createOutbox, realTimer, type Renderer, type Timer } from "./alert-outbox.ts";
import { UserError } from "../errors.ts";
import { utc } from "../replies/format.ts";
import { alertMessage, alertSummary, detailFromRow, resolutionReply, type AlertDetail } from "../replies/alert-replies.ts";
import type { NewAlert } from "../../db/ledger.ts";
import { isLedgerFull } from "../../db/health.ts";
import { createHeldAlerts, type HeldAlert } from "./held-alerts.ts";
import { mention, plainMentions } from "../replies/mention.ts";

export type { Timer } from "./alert-outbox.ts";

export interface AlertInput {
  kind: AlertKind;
  server: ServerRow;
  snapshotId?: number | null;
  snapshotName?: string;
  title: string;
  lines?: string[];
  buttons?: Button[];
}

export interface AlertSinkDeps {
  ledger: Ledger;
  chat: ChatPort;
  log: Logger;
  defaultChannel: string | null; // alerts.channel (the console passes its own)
  /** Timing (tests pass a controllable one); Node's timers by default. */
  timer?: Timer;
  /** The chat's limits; chat.pacing by default (Slack: one post a second per channel), else none. */
  pacing?: Pacing;
  /**
   * Whether this process sends alert messages now (the leader, with replicas; always on one box). When it does not,
   * alerts are recorded with what their messages owe, and the leader's resume() sends them.
   */
  sending?: () => boolean;
  /** How long a quiet channel's first new alert waits for others to share one message; one post interval by default. */
  gatherMs?: number;
  /** First retry delay of a failed post or update, doubling each time (1 s by default). */
  retryMs?: number;
  /** Tries before a message is given up (8 by default: about two minutes of retrying). */
  maxAttempts?: number;
}

const REMEMBERED = 5000; // what raises said (buttons, multi-line details), newest kept

/**
 * Every alert goes through here. It is recorded in the ledger under its key (kind + server + snapshot);
 * while it stays open a repeat counts (ledger) and updates its message instead of posting another.
 * Messages go to the server's channel or the default one, paced per channel by the outbox: new alerts
 * that wait together become one summary message, and updates of one message are merged. When the
 * condition clears, `resolve` closes it, updates its message and replies in its thread.
 *
 * raise and resolve record at once and queue the chat work: call `flush()` to wait until it is sent
 * (tests, before reading chat), and `stop()` before closing the ledger.
 */
export function createAlertSink(deps: AlertSinkDeps) {
  const { ledger, log } = deps;
  const sending = deps.sending ?? (() => true);
  const details = memo<AlertDetail>();
  const detailOf = (a: AlertRow) => details.get(a.id) ?? detailFromRow(a);
  const rowsOf = async (ids: number[]): Promise<AlertRow[]> => {
    const rows: AlertRow[] = [];
    for (const id of ids) {
      const a = await ledger.alerts.get(id);
      if (a) rows.push(a);
    }
    return rows;
  };
  const render: Renderer = {
    async fresh(ids) {
      const rows = await rowsOf(ids);
      return rows.length === 1 ? alertMessage(rows[0]!, detailOf(rows[0]!), rows[0]!.resolved_why ?? undefined) : alertSummary(rows);
    },
    async message(ref: MessageRef): Promise<Reply | null> {
      const rows = await ledger.alerts.byMessage(ref);
      if (rows.length === 0) return null;
      return rows.length === 1 ? alertMessage(rows[0]!, detailOf(rows[0]!), rows[0]!.resolved_why ?? undefined) : alertSummary(rows);
    },
    async resolutions(ids) {
      const rows = await rowsOf(ids);
      return resolutionReply(rows.map((alert) => ({ alert, why: alert.resolved_why ?? undefined })));
    },
  };
  const pacing = deps.pacing ?? deps.chat.pacing ?? { postIntervalMs: 0, updateIntervalMs: 0 };
  const outbox = createOutbox(
    { chat: deps.chat, alerts: ledger.alerts, log, render, replica: ledger.coordination.replica },
    { timer: deps.timer ?? realTimer, pacing, gatherMs: deps.gatherMs ?? pacing.postIntervalMs, retryMs: deps.retryMs ?? 1000, maxAttempts: deps.maxAttempts ?? 8 },
  );

  // Raised or resolved while the ledger cannot write: posted now, recorded when it can (no alert is dropped).
  const held = createHeldAlerts({ chat: deps.chat, log, now: () => (deps.timer ?? realTimer).now() });
  const LEDGER_KEY = alertKey("ledger_full", "ledger");

  async function resolveKey(key: string, why: string): Promise<boolean> {
    let alert: AlertRow | undefined;
    try {
      alert = await ledger.alerts.resolve(key, why);
    } catch (e) {
      if (!isLedgerFull(e)) throw e;
      held.holdResolution(key, why);
      return true;
    }
    if (!alert) return false;
    log.info({ alert: alert.id, kind: alert.kind, key }, `resolved: ${why}`);
    if (alert.channel && !outbox.isStopped() && sending()) outbox.resolved(alert.channel, alert.id);
    return true;
  }

  /** `title` is logged as a warning (null: the caller has said it, as the ledger's state change does). */
  async function record(input: NewAlert, detail: AlertDetail, title: string | null): Promise<void> {
    let out: Awaited<ReturnType<Ledger["alerts"]["raise"]>>;
    try {
      out = await ledger.alerts.raise(input);
    } catch (e) {
      if (!isLedgerFull(e)) throw e;
      if (title !== null) log.warn({ kind: input.kind, key: input.key, held: true }, plainMentions(title));
      return held.hold(input, detail);
    }
    const { alert, fresh } = out;
    if (title !== null) log.warn({ alert: alert.id, kind: input.kind, key: input.key, count: alert.count }, plainMentions(title));
    details.set(alert.id, detail);
    const where = alert.channel ?? input.channel; // a repeat keeps the channel its message is in
    if (!where || outbox.isStopped() || !sending()) return; // recorded (with its post owed) and logged
    // The row may have been read just before the outbox recorded its post: the outbox's own ref counts too.
    if (fresh || (!alert.message_ref && !outbox.knownRef(alert.id) && !outbox.pending(where, alert.id))) outbox.fresh(where, alert.id);
    else outbox.changed(where, alert.id);
  }

  /** Held alerts into the ledger, with the message they were posted as; a full ledger again gives the rest back. */
  async function recordHeld(): Promise<void> {
    const { alerts, resolutions } = held.take();
    const put = async (h: HeldAlert) => {
      const { alert } = await ledger.alerts.raise(h.alert);
      details.set(alert.id, h.detail);
      if (h.ref) await ledger.alerts.setMessage(alert.id, h.ref);
      else if (alert.channel && !outbox.isStopped() && sending()) outbox.fresh(alert.channel, alert.id);
    };
    for (let i = 0; i < alerts.length; i++) {
      try {
        await put(alerts[i]!);
      } catch (e) {
        if (!isLedgerFull(e)) throw e;
        return held.giveBack(alerts.slice(i), resolutions);
      }
    }
    for (const r of resolutions) await resolveKey(r.key, r.why);
  }

  return {
    /** Closes an open alert: its message says so and a thread reply under it says why. False if none was open. */
    async resolve(kind: AlertKind, server: ServerRow, why: string, snapshotName?: string): Promise<boolean> {
      return resolveKey(alertKey(kind, server.name, snapshotName), why);
    },
    /** Closes every open alert of this kind on the server, whichever snapshot each names; returns how many. */
    async resolveAll(kind: AlertKind, server: ServerRow, why: string): Promise<number> {
      const keys = await ledger.alerts.openKeys(kind, server.name);
      let n = 0;
      for (const key of keys) if (await resolveKey(key, why)) n++;
      return n;
    },
    /** alerts ack: who and when recorded on the open alert, in the audit log, and on its message. */
    async acknowledge(id: number, user: string, channel: string | null): Promise<AlertRow> {
      const alert = await ledger.alerts.get(id);
      if (!alert) throw new UserError("unknown_alert", `there is no alert #${id}: type alerts to see the open ones`);
      const won = await ledger.tx(async (t) => {
        if (!(await t.alerts.ack(id, user))) return false;
        await t.alerts.touch(id); // its message shows who acknowledged: owed an update
        const [, , snapshot = ""] = alert.key.split(":");
        await t.operations.insert({
          kind: "ack",
          server_id: alert.server_id,
          snapshot_id: alert.snapshot_id,
          requested_by: user,
          channel,
          args: { alert: id, kind: alert.kind, ...(snapshot ? { snapshot } : {}) },
          state: "succeeded",
          result: `acknowledged alert #${id} (${alert.kind})`,
        });
        return true;
      });
      const now = (await ledger.alerts.get(id))!;
      if (!won && now.state === "resolved")
        throw new UserError("alert_resolved", `alert #${id} is already resolved (${now.resolved_why ?? "its condition cleared"}): nothing to acknowledge`);
      if (!won)
        throw new UserError("alert_acked", `alert #${id} was already acknowledged by ${mention(now.acked_by ?? "")} at ${utc(now.acked_at)}`);
      log.info({ alert: id, kind: alert.kind, user }, "alert acknowledged");
      if (now.channel && now.message_ref && !outbox.isStopped() && sending()) outbox.changed(now.channel, id);
      return now;
    },
    /** Records an alert (or one more sighting of the open one with its key) and queues its message. */
    async raise(a: AlertInput): Promise<void> {
      const key = alertKey(a.kind, a.server.name, a.snapshotName);
      const channel = a.server.channel ?? deps.defaultChannel;
      const message = [a.title, ...(a.lines ?? [])].join("\n");
      const detail = { title: a.title, lines: a.lines ?? [], buttons: a.buttons };
      await record({ kind: a.kind, key, server_id: a.server.id, snapshot_id: a.snapshotId ?? null, message, channel, buttons: a.buttons ?? null }, detail, a.title);
    },
    /**
     * An alert about a whole storage target rather than one server (its scheduled verification ran late, or could
     * not read the target): keyed `<kind>:@<target>:`, which alerts shows as "@offsite"; to the default channel.
     */
    async raiseOnTarget(a: Omit<AlertInput, "server" | "snapshotId" | "snapshotName"> & { target: string }): Promise<void> {
      const key = alertKey(a.kind, `@${a.target}`);
      const message = [a.title, ...(a.lines ?? [])].join("\n");
      const detail = { title: a.title, lines: a.lines ?? [], buttons: a.buttons };
      await record({ kind: a.kind, key, server_id: null, snapshot_id: null, message, channel: deps.defaultChannel, buttons: a.buttons ?? null }, detail, a.title);
    },
    /** Closes the target's open alert of this kind (raiseOnTarget's); false if none was open. */
    async resolveOnTarget(kind: AlertKind, target: string, why: string): Promise<boolean> {
      return resolveKey(alertKey(kind, `@${target}`), why);
    },
    /** The ledger cannot write: the alert is held (posted to the default channel) until it can. */
    async ledgerFull(error: string): Promise<void> {
      const title = error.split(":")[0]!;
      const lines = ["new work is refused until it can write; list, show and help still work"];
      const text = [title, ...lines].join("\n");
      await record({ kind: "ledger_full", key: LEDGER_KEY, server_id: null, snapshot_id: null, message: text, channel: deps.defaultChannel }, { title, lines }, null);
    },
    /** The ledger writes again: held alerts are recorded, and the ledger_full alert resolved with what was settled. */
    async ledgerWritable(settled: string[]): Promise<void> {
      await recordHeld();
      await resolveKey(LEDGER_KEY, ["the ledger can write again", ...settled].join("; "));
    },
    /**
     * Queues what the ledger says alert messages still owe (raised on another replica, or before a crash): the leader
     * calls it when it starts leading and every few seconds. Returns how many it found.
     */
    async resume(): Promise<number> {
      if (outbox.isStopped() || !sending()) return 0;
      const due = await ledger.alerts.due();
      for (const d of due) {
        if (d.post) outbox.fresh(d.channel, d.id);
        else if (d.reply) outbox.resolved(d.channel, d.id);
        else if (d.update > 0) outbox.changed(d.channel, d.id);
      }
      return due.length;
    },
    /** Stops sending (another replica leads now): what was queued is forgotten here; the ledger still owes it. */
    pause(): void {
      outbox.drop();
    },
    /** Sends what is queued now, without waiting to gather more; resolves when nothing is left to send. */
    flush: async (): Promise<void> => {
      await held.flush();
      await outbox.flush();
    },
    /** Flushes for at most `ms` (0: not at all), then stops sending; raise and resolve still record in the ledger. */
    async stop(ms = 10_000): Promise<void> {
      if (ms > 0) {
        let cancel = () => {};
        const bound = new Promise<void>((res) => (cancel = (deps.timer ?? realTimer).after(ms, res)));
        await Promise.race([outbox.flush(), bound]);
        cancel();
      }
      if (outbox.size()) log.warn({ unsent: outbox.size() }, "alert messages not sent before stopping (the alerts are in the ledger)");
      outbox.stop();
    },
    /** Alert messages queued or being sent. */
    pending: (): number => outbox.size(),
    /** Alerts and resolutions waiting for the ledger to write again. */
    held: (): number => held.size(),
  };
}
export type AlertSink = ReturnType<typeof createAlertSink>;

/** A bounded map: the oldest entries go first. */
function memo<T>() {
  const map = new Map<number, T>();
  return {
    get: (id: number): T | undefined => map.get(id),
    set(id: number, v: T): void {
      map.delete(id);
      map.set(id, v);
      if (map.size > REMEMBERED) map.delete(map.keys().next().value!);
    },
  };
}
