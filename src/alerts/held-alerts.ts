import type { Logger } from "pino";
import type { AlertRow, NewAlert } from "../../db/ledger.ts";
import type { ChatPort, MessageRef } from "../chat/chat-port.ts";
import type { Reply } from "../reply.ts";
import { alertMessage, type AlertDetail } from "../replies/alert-replies.ts";
import { errorMessage } from "../errors.ts";

// While the ledger cannot write, an alert cannot be recorded, and the outbox (which reads what it posts
// from the ledger) cannot send it. Such alerts are held here, in memory: posted straight to chat, and
// handed back to be recorded (with the message they were posted as) once the ledger can write again.

export interface HeldAlert {
  alert: NewAlert;
  detail: AlertDetail;
  at: number;
  count: number;
  ref: MessageRef | null;
}

export function createHeldAlerts(deps: { chat: ChatPort; log: Logger; now: () => number }) {
  let held: HeldAlert[] = [];
  let resolutions: Array<{ key: string; why: string }> = [];
  const sending = new Set<Promise<void>>();

  const reply = (h: HeldAlert): Reply => {
    const { buttons: _b, ...alert } = h.alert;
    const row: AlertRow = { ...alert, id: 0, state: "open", count: h.count, message_ref: null, first_seen: h.at, last_seen: deps.now(), resolved_at: null,
      resolved_why: null, acked_by: null, acked_at: null };
    const r = alertMessage(row, h.detail);
    return { ...r, lines: [...(r.lines ?? []), "(not in the ledger yet: it is recorded once the ledger can write again)"] };
  };
  const post = (h: HeldAlert, channel: string) => {
    const p = deps.chat
      .post(channel, reply(h))
      .then((ref) => void (h.ref = ref))
      .catch((e: unknown) => deps.log.warn({ err: errorMessage(e) }, "could not post a held alert"))
      .finally(() => sending.delete(p));
    sending.add(p);
  };

  return {
    /** An alert the ledger could not record: a repeat of a held one counts, a new one is posted now. */
    hold(alert: NewAlert, detail: AlertDetail): void {
      const same = held.find((h) => h.alert.key === alert.key);
      if (same) return void (same.count++, (same.alert = alert), (same.detail = detail));
      const h: HeldAlert = { alert, detail, at: deps.now(), count: 1, ref: null };
      held.push(h);
      if (alert.channel) post(h, alert.channel);
    },
    /** A resolution the ledger could not record; a held alert it closes is resolved once recorded. */
    holdResolution(key: string, why: string): void {
      resolutions.push({ key, why });
    },
    /** What waits, in order, emptied: the caller records it (and gives back what it could not). */
    take(): { alerts: HeldAlert[]; resolutions: Array<{ key: string; why: string }> } {
      const out = { alerts: held, resolutions };
      held = [];
      resolutions = [];
      return out;
    },
    giveBack(alerts: HeldAlert[], rest: Array<{ key: string; why: string }>): void {
      held = [...alerts, ...held];
      resolutions = [...rest, ...resolutions];
    },
    size: (): number => held.length + resolutions.length,
    /** Resolves when the held alerts' posts have been made. */
    flush: async (): Promise<void> => void (await Promise.all([...sending])),
  };
}
export type HeldAlerts = ReturnType<typeof createHeldAlerts>;
