import type { Server } from "node:http";
import type { Logger } from "pino";
import { App as BoltApp, HTTPReceiver, SocketModeReceiver, webApi, type Logger as BoltLogger } from "@slack/bolt";
import type { Config } from "../../config/load-config.ts";
import type { Clock } from "../../clock.ts";
import type { Runner } from "../../transport/runner.ts";
import { createApp, type App } from "../../app.ts";
import { SnapbotError } from "../../errors.ts";
import { boltLogger } from "./bolt-logger.ts";
import { PATIENT_RETRIES, webClientOptions } from "./web-client-options.ts";
import { createSlackChat, slackError, type SlackChat } from "./slack-chat.ts";
import { slashCommand } from "./slash-command.ts";
import { buttonAction } from "./button-action.ts";
import type { HandlerDeps } from "./handler-deps.ts";
import { createAfterAck } from "./after-ack.ts";
import { createRecentDeliveries } from "./recent-deliveries.ts";
import { within } from "../../stop-signals.ts";

export const EVENTS_PATH = "/slack/events";
// In a burst, the next request follows an ack within a fraction of a millisecond: work waits for a lull this long.
const ARRIVAL_GRACE_MS = 2;

export interface SlackStartOptions {
  config: Config; // config.chat.mode is "http" or "socket"
  log: Logger;
  clock: Clock;
  runner: Runner;
  /** HTTP mode: the interface to listen on (all of them when unset; tests use 127.0.0.1). */
  host?: string;
  /** Progress updates to one message: at most one per this many ms (Slack's rate limits). */
  updateIntervalMs?: number;
  /** A graceful stop waits this long for running operations and their last messages. */
  stopTimeoutMs?: number;
  respondTimeoutMs?: number;
}

export interface SlackBot {
  app: App;
  bolt: BoltApp;
  receiver: HTTPReceiver | SocketModeReceiver;
  chat: SlackChat;
  /** HTTP mode: the port listened on; null in Socket Mode. */
  port: number | null;
  /** Stops taking requests, waits (bounded) for work in progress, closes the ledger. */
  stop(): Promise<void>;
}

type SlackChatConfig = Config["chat"] & { botToken: string };

/** Slack mode: the app, the Web API client, Bolt with the receiver the environment chose, started. */
export async function startSlack(o: SlackStartOptions): Promise<SlackBot> {
  const cc = o.config.chat;
  if (cc.mode === "console" || !cc.botToken) throw new SnapbotError("internal", "startSlack needs SLACK_BOT_TOKEN and a Slack mode");
  const settings = { ...cc, botToken: cc.botToken };
  const logger = boltLogger(o.log);
  const web = new webApi.WebClient(cc.botToken, webClientOptions({ apiUrl: cc.apiUrl, logger }));
  const identity = await checkBotToken(web, o.log);
  const chat = createSlackChat(web, o.log);
  const app = await createApp(o.config, { log: o.log, clock: o.clock, runner: o.runner, chat });
  try {
    const receiver = createReceiver(settings, logger);
    const bolt = new BoltApp({
      receiver,
      authorize: async () => ({ botToken: settings.botToken, ...identity }), // no auth.test per request
      logger,
      logLevel: logger.getLevel(),
      convoStore: false, // no conversation state, and no message events to ignore: two middlewares fewer per request
      ignoreSelf: false,
      clientOptions: webClientOptions({ apiUrl: cc.apiUrl, logger }),
    });
    const { deps, inflight, unanswered } = handlerDeps(o, app, chat);
    bolt.command("/snapshot", slashCommand(deps));
    bolt.action({ type: "block_actions", action_id: /^snapbot:/ }, buttonAction(deps));
    bolt.error(async (e) => void o.log.error({ err: e }, "Slack request failed"));
    const port = await listen(bolt, settings, o.host, unanswered);
    o.log.info({ mode: cc.mode, port, path: cc.mode === "http" ? EVENTS_PATH : undefined }, "snapbot is listening to Slack");
    let stopping: Promise<void> | undefined;
    await app.start();
    const stop = () => (stopping ??= stopBot({ bolt, app, inflight, log: o.log, boundMs: o.stopTimeoutMs ?? 25_000 }));
    return { app, bolt, receiver, chat, port, stop };
  } catch (e) {
    await app.close();
    throw e;
  }
}

/** What the listeners share, with the set of work in progress (for a graceful stop). */
function handlerDeps(o: SlackStartOptions, app: App, chat: SlackChat) {
  const inflight = new Set<Promise<unknown>>();
  const unanswered = { count: 0, lastAt: 0 }; // HTTP requests not answered yet: work waits for their acks
  const deps: HandlerDeps = {
    app,
    chat,
    log: o.log.child({ component: "slack" }),
    updateIntervalMs: o.updateIntervalMs ?? 1000,
    respondTimeoutMs: o.respondTimeoutMs ?? 5000,
    recent: createRecentDeliveries(),
    afterAck: createAfterAck({ acksPending: () => unanswered.count > 0 || performance.now() - unanswered.lastAt < ARRIVAL_GRACE_MS }),
    track: (work) => {
      inflight.add(work);
      const done = () => inflight.delete(work);
      work.then(done, done);
    },
  };
  return { deps, inflight, unanswered };
}

function createReceiver(cc: SlackChatConfig, logger: BoltLogger): HTTPReceiver | SocketModeReceiver {
  const logLevel = logger.getLevel();
  if (cc.mode === "socket") {
    // Bolt's SocketModeClient makes its own WebClient (for apps.connections.open): it gets the same API URL.
    const clientOptions = webClientOptions({ apiUrl: cc.apiUrl, logger }, PATIENT_RETRIES);
    return new SocketModeReceiver({ appToken: cc.appToken!, logger, logLevel, installerOptions: { clientOptions } });
  }
  // Bolt checks X-Slack-Signature and rejects a timestamp older than 5 minutes with 401, before any listener runs.
  return new HTTPReceiver({ signingSecret: cc.signingSecret!, endpoints: [EVENTS_PATH], port: cc.port, logger, logLevel });
}

async function listen(bolt: BoltApp, cc: SlackChatConfig, host: string | undefined, unanswered: { count: number; lastAt: number }): Promise<number | null> {
  if (cc.mode === "socket") {
    await bolt.start();
    return null;
  }
  const server = (await bolt.start({ port: cc.port, host } as never)) as Server;
  server.prependListener("request", (_req, res) => {
    unanswered.count++;
    unanswered.lastAt = performance.now();
    res.once("close", () => unanswered.count--);
  });
  const address = server.address();
  return typeof address === "object" && address ? address.port : cc.port;
}

/** A token Slack refuses stops the bot with a clear line; an unreachable Slack only delays nothing. */
async function checkBotToken(web: webApi.WebClient, log: Logger): Promise<{ botUserId?: string; botId?: string }> {
  try {
    const res = await web.auth.test();
    log.info({ bot: res.user_id, team: res.team }, "Slack accepted the bot token");
    return { botUserId: res.user_id, botId: res.bot_id };
  } catch (e) {
    if ((e as { code?: string }).code === "slack_webapi_platform_error")
      throw new SnapbotError("slack_token", `SLACK_BOT_TOKEN was refused by Slack (${slackError(e)}): copy the Bot User OAuth Token (xoxb-…) from your app's "OAuth & Permissions" page`);
    log.warn({ error: slackError(e) }, "could not reach the Slack Web API to check the bot token; starting anyway");
    return {};
  }
}

interface StopParts {
  bolt: BoltApp;
  app: App;
  inflight: Set<Promise<unknown>>;
  log: Logger;
  boundMs: number;
}

async function stopBot({ bolt, app, inflight, log, boundMs }: StopParts): Promise<void> {
  const deadline = Date.now() + boundMs;
  await within(bolt.stop().catch((e: unknown) => log.warn({ error: slackError(e) }, "stopping the Slack receiver failed")), 5000);
  const drain = async () => {
    await app.scheduler.stop();
    await app.engine.idle();
    await app.alerts.stop(); // queued alert messages sent (bounded) before the ledger closes
    while (inflight.size) await Promise.allSettled([...inflight]);
  };
  if (!(await within(drain(), Math.max(0, deadline - Date.now()))))
    log.warn({ pending: inflight.size }, "stopped with work still running: interrupted operations will be marked failed at the next start");
  await app.close();
  log.info("snapbot stopped");
}
