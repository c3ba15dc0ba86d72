import type { Logger } from "pino";
import type { Ledger } from "../../db/ledger.ts";
import type { AlertKind } from "../../db/alert-repo.ts";
import type { ServerRow } from "../../db/types.ts";
import type { ChatPort } from "../chat/chat-port.ts";
import type { Button, Reply } from "../reply.ts";
import { errorMessage } from "../errors.ts";

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
}

/**
 * Every alert goes through here: recorded in the ledger under its key (kind + server + snapshot), posted
 * to the server's channel or the default one, and, while it stays open, counted instead of re-posted.
 * De-duplication windows, resolution and burst coalescing plug in here with the scheduler.
 */
export function createAlertSink(deps: AlertSinkDeps) {
  const { ledger, chat, log } = deps;
  const keyOf = (kind: AlertKind, server: string, snapshot?: string) => [kind, server, snapshot ?? ""].join(":");
  return {
    /** Closes an open alert and says so on its message; nothing happens if none is open. */
    async resolve(kind: AlertKind, server: ServerRow, why: string, snapshotName?: string): Promise<boolean> {
      const alert = ledger.alerts.resolve(keyOf(kind, server.name, snapshotName));
      if (!alert) return false;
      log.info({ alert: alert.id, kind, server: server.name }, `resolved: ${why}`);
      if (alert.message_ref)
        await chat
          .update(alert.message_ref, { visibility: "channel", tone: "success", title: `✔ resolved ${kind}: ${alert.message.split("\n")[0]}`, lines: [why] })
          .catch((e: unknown) => log.warn({ alert: alert.id, err: errorMessage(e) }, "could not update a resolved alert"));
      return true;
    },
    async raise(a: AlertInput): Promise<void> {
      const key = keyOf(a.kind, a.server.name, a.snapshotName);
      const channel = a.server.channel ?? deps.defaultChannel;
      const message = [a.title, ...(a.lines ?? [])].join("\n");
      const { alert, fresh } = ledger.alerts.raise({ kind: a.kind, key, server_id: a.server.id, snapshot_id: a.snapshotId ?? null, message, channel });
      log.warn({ alert: alert.id, kind: a.kind, server: a.server.name, count: alert.count }, a.title);
      if (!channel) return; // recorded and logged; no channel configured to tell
      const reply = alertReply(a, alert.count);
      try {
        if (!fresh && alert.message_ref) return void (await chat.update(alert.message_ref, reply));
        const ref = await chat.post(channel, reply);
        if (ref) ledger.alerts.setMessage(alert.id, ref);
      } catch (e) {
        log.warn({ alert: alert.id, err: errorMessage(e) }, "could not post an alert");
      }
    },
  };
}
export type AlertSink = ReturnType<typeof createAlertSink>;

export function alertReply(a: AlertInput, count: number): Reply {
  const seen = count > 1 ? [`seen ${count} times`] : [];
  return { visibility: "channel", tone: "error", title: `${a.kind}: ${a.title}`, lines: [...(a.lines ?? []), ...seen], buttons: a.buttons };
}
