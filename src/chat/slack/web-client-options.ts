import type { webApi, Logger as BoltLogger } from "@slack/bolt";

export interface ClientSettings {
  /** SLACK_API_URL; Slack's own when unset. */
  apiUrl?: string;
  logger: BoltLogger;
  /** Per request; a Web API that hangs must not hold a message (or a shutdown) for minutes. */
  timeoutMs?: number;
}

// The WebClient's default retries span about 30 minutes: a down Web API would hold every progress
// message that long. Here a down API fails in about 2 s (0.25 + 0.5 + 1 s between four attempts), and a
// 429 is retried after its Retry-After (the WebClient waits for it, then counts one retry).
export const FAIL_FAST_RETRIES = { retries: 3, factor: 2, minTimeout: 250, maxTimeout: 1000, randomize: false };

// The Socket Mode connection (apps.connections.open) may keep trying for longer: without it the bot
// hears nothing at all, and its reconnects are spaced by the client itself.
export const PATIENT_RETRIES = { retries: 20, factor: 1.5, minTimeout: 500, maxTimeout: 30_000, randomize: true };

/** Options for every WebClient the app makes, so SLACK_API_URL reaches all of them. */
export function webClientOptions(s: ClientSettings, retryConfig = FAIL_FAST_RETRIES): webApi.WebClientOptions {
  const options: webApi.WebClientOptions = { logger: s.logger, retryConfig, timeout: s.timeoutMs ?? 5_000 };
  if (s.apiUrl) options.slackApiUrl = s.apiUrl.endsWith("/") ? s.apiUrl : `${s.apiUrl}/`;
  return options;
}
