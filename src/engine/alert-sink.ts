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
  return {
    async raise(a: AlertInput): Promise<void> {
      const key = [a.kind, a.server.name, a.snapshotName ?? ""].join(":");
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
  return { visibility: "channel", tone: "error", title: `⚠ ${a.kind}: ${a.title}`, lines: [...(a.lines ?? []), ...seen], buttons: a.buttons };
}
