import { describe, expect, it } from "vitest";
import { SocketModeReceiver } from "@slack/bolt";
import { tempDir } from "../../helpers/temp-dir.ts";
import { APP_TOKEN, BOT_TOKEN, setupSlack, shown, waitResponse } from "../../helpers/slack-bot.ts";
import { clickPayload, newTrigger } from "../../helpers/slack-signer.ts";

// Socket Mode without Slack: the fake answers apps.connections.open with its own websocket, says hello,
// and sends envelopes as Slack does; the bot acks them over the socket.
const root = tempDir("snapbot-slack-socket-");

describe("Slack over Socket Mode", () => {
  it("connects through SLACK_API_URL with the app token, and answers a command sent over the socket", async () => {
    const { fake, t } = await setupSlack(root, { chat: { mode: "socket", appToken: APP_TOKEN, signingSecret: undefined } });
    expect(t.bot.receiver).toBeInstanceOf(SocketModeReceiver);
    expect(t.bot.port).toBeNull();
    const open = fake.callsTo("apps.connections.open");
    expect(open).toHaveLength(1);
    expect(open[0]!.auth).toBe(`Bearer ${APP_TOKEN}`); // the receiver's own WebClient, at SLACK_API_URL
    expect(fake.callsTo("auth.test")[0]!.auth).toBe(`Bearer ${BOT_TOKEN}`);
    expect(fake.socket.connections()).toBe(1);

    const responseUrl = fake.responseUrl();
    const payload = { token: "x", team_id: "T0TEST", channel_id: "C0OPS", user_id: "U0OPER", command: "/snapshot", text: "servers", response_url: responseUrl, trigger_id: newTrigger() };
    fake.socket.send({ envelope_id: "env-1", type: "slash_commands", accepts_response_payload: true, payload });
    const ack = await fake.waitFor((c) => c && fake.socket.received.find((m) => m.envelope_id === "env-1"), 5000, "the ack");
    expect(ack).toEqual({ envelope_id: "env-1", payload: { response_type: "ephemeral", text: ":hourglass_flowing_sand: /snapshot servers" } });
    expect(shown((await waitResponse(fake, responseUrl)).body)).toMatch(/demo/);

    fake.socket.send({ envelope_id: "env-1", type: "slash_commands", accepts_response_payload: true, payload }); // redelivered
    const click = clickPayload({ button: { action_id: "snapbot:0", value: "list demo" }, messageTs: "1.1", ephemeral: true, responseUrl: fake.responseUrl("click") });
    fake.socket.send({ envelope_id: "env-2", type: "interactive", accepts_response_payload: false, payload: click });
    await fake.waitFor(() => fake.socket.received.find((m) => m.envelope_id === "env-2"), 5000, "the click's ack");
    expect(shown((await waitResponse(fake, fake.responseUrl("click"))).body)).toMatch(/demo has no snapshots yet/);
    expect(fake.callsTo("response_url").filter((c) => responseUrl.endsWith(c.path))).toHaveLength(1);

    await t.stop();
    await fake.waitFor(() => fake.socket.connections() === 0 || undefined, 5000, "the socket to close");
  });

  it("stops with a clear line when Slack refuses the bot token", async () => {
    const { startFakeSlack } = await import("../../helpers/fake-slack.ts");
    const { startTestBot } = await import("../../helpers/slack-bot.ts");
    const fake = await startFakeSlack();
    fake.failMethod("auth.test", "invalid_auth");
    await expect(startTestBot(tempDir(), fake, { chat: { mode: "socket", appToken: APP_TOKEN, signingSecret: undefined } })).rejects.toThrow(
      /^SLACK_BOT_TOKEN was refused by Slack \(invalid_auth\): copy the Bot User OAuth Token/,
    );
    expect(fake.callsTo("apps.connections.open")).toHaveLength(0);
    await fake.close();
  });
});
