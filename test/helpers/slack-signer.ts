import { createHmac } from "node:crypto";

// Requests exactly as Slack sends them (DESIGN.md §5): form-encoded slash commands, `payload=<json>`
// for block_actions, signed with HMAC-SHA256 over `v0:<timestamp>:<raw body>`.

export const SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";

export function signatureHeaders(body: string, secret = SIGNING_SECRET, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const signature = `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
  return { "x-slack-signature": signature, "x-slack-request-timestamp": String(timestamp) };
}

let triggers = 0;
export const newTrigger = () => `${Date.now()}.${++triggers}.f4k3tr1gg3r`;

export interface SlashFields {
  text: string;
  user?: string;
  channel?: string;
  responseUrl: string;
  triggerId?: string;
}

export function slashBody(f: SlashFields): string {
  return new URLSearchParams({
    token: "gIkuvaNzQIHg97ATvDxqgjtO", // the deprecated verification token Slack still sends
    team_id: "T0TEST",
    team_domain: "test",
    channel_id: f.channel ?? "C0OPS",
    channel_name: "ops",
    user_id: f.user ?? "U0OPER",
    user_name: (f.user ?? "U0OPER").toLowerCase(),
    command: "/snapshot",
    text: f.text,
    api_app_id: "A0TEST",
    is_enterprise_install: "false",
    response_url: f.responseUrl,
    trigger_id: f.triggerId ?? newTrigger(),
  }).toString();
}

export interface ClickFields {
  /** The button clicked, as the bot rendered it (action_id and value). */
  button: { action_id: string; value: string; text?: { text: string } };
  user?: string;
  channel?: string;
  /** The message the button is on; omit `message` for an ephemeral one. */
  messageTs: string;
  ephemeral?: boolean;
  message?: Record<string, unknown>;
  responseUrl: string;
  triggerId?: string;
  actionTs?: string;
}

export function clickPayload(f: ClickFields): Record<string, unknown> {
  const channel = f.channel ?? "C0OPS";
  const user = f.user ?? "U0OPER";
  return {
    type: "block_actions",
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: "T0TEST" },
    api_app_id: "A0TEST",
    token: "gIkuvaNzQIHg97ATvDxqgjtO",
    container: { type: "message", message_ts: f.messageTs, channel_id: channel, is_ephemeral: !!f.ephemeral },
    trigger_id: f.triggerId ?? newTrigger(),
    team: { id: "T0TEST", domain: "test" },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: channel, name: "ops" },
    ...(f.ephemeral ? {} : { message: f.message ?? { type: "message", ts: f.messageTs, text: "", user: "U0BOT", blocks: [] } }),
    state: { values: {} },
    response_url: f.responseUrl,
    actions: [
      {
        action_id: f.button.action_id,
        block_id: "b1",
        text: { type: "plain_text", text: f.button.text?.text ?? "button", emoji: true },
        value: f.button.value,
        type: "button",
        action_ts: f.actionTs ?? `${(Date.now() / 1000).toFixed(6)}`,
      },
    ],
  };
}

export const actionBody = (payload: Record<string, unknown>): string => new URLSearchParams({ payload: JSON.stringify(payload) }).toString();

export interface Sent {
  status: number;
  text: string;
  ms: number;
}

/** POSTs a body to the bot as Slack would; headers default to a valid signature made now. */
export async function postToBot(url: string, body: string, headers: Record<string, string> = signatureHeaders(body)): Promise<Sent> {
  const t0 = performance.now();
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body });
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - t0 };
}
