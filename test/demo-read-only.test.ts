import { describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { loadConfig } from "../src/config/load-config.ts";
import { ensureDemoFolder } from "../src/config/demo-config.ts";
import { createApp } from "../src/app.ts";
import { systemClock } from "../src/clock.ts";
import { createLocalRunner } from "../src/transport/local-runner.ts";
import { silentChat } from "../src/chat/chat-port.ts";
import { runCommand } from "../commands/index.ts";
import { DEMO_READ_ONLY } from "../commands/roles.ts";
import { plainReply } from "./helpers/plain-reply.ts";
import { tempDir } from "./helpers/temp-dir.ts";

// The built-in demo config lets everyone do everything: right at the console, not for every member of a
// Slack workspace (anyone could register /etc and restore over the bot's host). In Slack it only reads.
const root = tempDir("snapbot-demo-ro-");
const SLACK_ENV = { SLACK_BOT_TOKEN: "xoxb-1", SLACK_SIGNING_SECRET: "s" };

async function demoApp(env: Record<string, string>) {
  const cwd = mkdtempSync(join(root, "c-"));
  ensureDemoFolder(cwd);
  const config = loadConfig(env, cwd);
  const log = pino({ level: "silent" });
  const app = await createApp(config, { log, clock: systemClock, runner: createLocalRunner(log), chat: silentChat });
  const run = async (text: string) => plainReply(await runCommand(app, { user: "U0ANYONE", channel: "C1", text }));
  return { app, config, run };
}

const WRITES = [
  "register evil archive paths=/etc",
  "unregister demo",
  "create demo s1",
  "restore demo/s1",
  "delete demo/s1",
  "verify demo/s1",
  "copy demo/s1 demo",
  "export demo/s1",
  "schedule demo daily --keep 3",
  "unschedule demo",
  "prune demo",
  "hostkeys accept demo",
  "alerts ack 1",
];

describe("the built-in demo config in Slack", () => {
  it("is read-only: every command that changes something is refused with how to configure roles", async () => {
    const { app, config, run } = await demoApp(SLACK_ENV);
    expect(config).toMatchObject({ demo: true, readOnly: true });
    for (const text of WRITES) {
      const r = await run(text);
      expect(r, text).toMatchObject({ tone: "error", title: `${text.split(" ")[0]} is refused: ${DEMO_READ_ONLY}` });
    }
    expect(DEMO_READ_ONLY).toMatch(/snapbot\.yml with roles: .*Slack member IDs.* and servers:, see README → Configuration/);
    expect((await app.ledger.servers.list()).map((s) => s.name)).toEqual(["demo"]); // "evil" was not registered
    expect(await app.ledger.operations.list({ limit: 100 })).toEqual([]); // no operation recorded
    await app.close();
  });

  it("still answers list, show, servers, help, schedules, alerts and audit", async () => {
    const { app, run } = await demoApp(SLACK_ENV);
    expect(await run("servers")).toMatchObject({ tone: "info", title: "1 server" });
    expect((await run("list demo")).tone).not.toBe("error");
    expect(await run("show demo/nope")).toMatchObject({ tone: "error", title: expect.not.stringMatching(/refused/) });
    expect((await run("schedules")).tone).not.toBe("error");
    expect((await run("alerts")).tone).not.toBe("error");
    expect((await run("audit")).tone).not.toBe("error");
    const help = await run("help");
    expect(help.tone).toBe("info");
    expect(help.lines?.at(-1)).toContain(DEMO_READ_ONLY);
    await app.close();
  });

  it("keeps the console's open demo: anyone at the console registers and creates", async () => {
    const { app, config, run } = await demoApp({});
    expect(config).toMatchObject({ demo: true, readOnly: false });
    const reg = await run(`register files-2 archive paths=${join(config.storage.path, "..", "demo")}`);
    expect(reg).toMatchObject({ tone: "success", title: "files-2 registered (archive) by U0ANYONE" });
    expect((await run("create demo s1")).tone).not.toBe("error");
    await app.engine.idle();
    const demo = (await app.ledger.servers.get("demo"))!;
    expect((await app.ledger.snapshots.list(demo.id, { limit: 5, offset: 0 })).rows.map((s) => [s.name, s.state])).toEqual([["s1", "done"]]);
    expect((await run("help")).lines?.join("\n")).not.toContain(DEMO_READ_ONLY);
    await app.close();
  });

  it("is not read-only in Slack with a snapbot.yml: the roles decide", async () => {
    const cwd = mkdtempSync(join(root, "f-"));
    const config = loadConfig({ ...SLACK_ENV, SNAPBOT_CONFIG: join(import.meta.dirname, "fixtures/config/minimal.yml") }, cwd);
    expect(config).toMatchObject({ demo: false, readOnly: false });
  });
});
