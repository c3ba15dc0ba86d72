import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { startSshd, sshdAvailable, type Sshd } from "../../helpers/sshd.ts";
import { alive, waitFor } from "../../helpers/process-tree.ts";
import type { Reply } from "../../../src/reply.ts";

// Hooks run where the server's commands run: on an `host: ssh://…` server, through the driver's runner (a real
// sshd on 127.0.0.1). The hook records $SSH_CONNECTION, which only an sshd session has. Under CI a missing
// sshd fails (startSshd throws); elsewhere the file is skipped with a warning.

const dir = tempDir("snapbot-hooks-ssh-");
const site = join(dir, "site");
mkdirSync(site);
writeFileSync(join(site, "a.txt"), "alpha\n");
const where = join(dir, "where");
const hook = join(dir, "where.sh");
writeFileSync(hook, `#!/bin/sh\nprintf '%s %s|%s\\n' "$1" "$2" "$SSH_CONNECTION" >> "${where}"\n`);
chmodSync(hook, 0o755);
const hang = join(dir, "hang.sh");
writeFileSync(hang, `#!/bin/sh\nsleep 300 &\necho $! > "${join(dir, "hang.pid")}"\nwait\n`);
chmodSync(hang, 0o755);

const run = process.env.CI === "true" || sshdAvailable();
if (!run) console.warn("skipping ssh hooks tests: /usr/sbin/sshd is not installed");

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${r.lines?.join(" ")}`);
  return r.follow.done;
};

describe.runIf(run)("hooks on an ssh:// server", () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd(join(dir, "sshd"));
  });
  afterAll(() => sshd?.stop());
  const server = (extra: Record<string, unknown>) => ({
    driver: "archive",
    paths: [site],
    host: `ssh://root@127.0.0.1:${sshd.port}`,
    ssh_key: sshd.clientKey,
    ...extra,
  });

  it("runs pre- and post-hooks in an sshd session, with the placeholders substituted", async () => {
    const { app, run } = await testApp(join(dir, "app"), {
      storage: { path: "snaps" },
      servers: { "remote-1": server({ hooks: { pre: [[hook, "pre", "{server}/{name}"]], post: [[hook, "post", "{name}"]] } }) },
    });
    const final = await finalOf(await run("create remote-1 n1"));
    expect(final.tone).toBe("success");
    const lines = readFileSync(where, "utf8").trim().split("\n");
    expect(lines).toEqual([expect.stringMatching(/^pre remote-1\/n1\|127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+$/), expect.stringMatching(/^post n1\|127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+$/)]);
    expect(await app.ledger.snapshots.find((await app.ledger.servers.get("remote-1"))!.id, "n1")).toMatchObject({ state: "done" });
    await app.close();
  });

  it("stops a remote pre-hook at its timeout: nothing taken, hook_failed raised", async () => {
    const { app, run } = await testApp(join(dir, "app-hang"), {
      storage: { path: "snaps" },
      servers: { "remote-2": server({ hooks: { pre: [[hang]], timeout: 4 } }) },
    });
    const final = await finalOf(await run("create remote-2 n1"));
    expect(final.tone).toBe("error");
    expect(final.lines![0]).toMatch(/^pre-hook "hang\.sh" failed, so remote-2\/n1 was not taken: .*timed out after 4s/);
    expect(await app.ledger.snapshots.find((await app.ledger.servers.get("remote-2"))!.id, "n1")).toMatchObject({ state: "failed" });
    expect(existsSync(join(dir, "app-hang/snaps/remote-2/n1"))).toBe(false);
    expect((await app.ledger.alerts.listOpen()).map((a) => a.kind)).toEqual(["hook_failed"]);
    const child = Number(readFileSync(join(dir, "hang.pid"), "utf8")); // the remote hook's own child goes too
    await waitFor("the remote hook's child to be killed", () => (alive(child) ? undefined : true), 10_000);
    await app.close();
  });
});
