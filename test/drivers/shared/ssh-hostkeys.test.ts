import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fakeClock } from "../../../src/clock.ts";
import type { Reply } from "../../../src/reply.ts";
import { generateKey, sshdAvailable, startSshd, type Sshd } from "../../helpers/sshd.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { testApp } from "../../helpers/test-app.ts";

// The host-key rules for archive servers over SSH, through the commands, against real sshd daemons: two
// servers sharing a key (one made from the other's image) → hostkey_regen_needed → regenerate with approval;
// a key that changed behind snapbot's back → hostkey_changed, every operation refused until an admin accepts.
// Each sshd reads its host key from <root>/etc/ssh, and the server's hostkey_root setting points there, so
// `ssh-keygen -A -f <root>` regenerates the key that daemon presents (after the test restarts it: it is not
// the system's ssh service). Under CI a missing sshd fails, never skips.
const enabled = sshdAvailable() || process.env.CI === "true";
const dir = tempDir("snapbot-ssh-hostkeys-");

describe.runIf(enabled)("SSH host keys of archive servers, through the commands", () => {
  const chat = recordingChat();
  const clock = fakeClock(Date.now());
  let t: Awaited<ReturnType<typeof testApp>>;
  let a: Sshd;
  let b: Sshd;
  const rootA = join(dir, "root-a");
  const rootB = join(dir, "root-b");
  const keyA = join(rootA, "etc", "ssh", "ssh_host_ed25519_key");
  const keyB = join(rootB, "etc", "ssh", "ssh_host_ed25519_key");
  const src = join(dir, "src");

  const done = (r: Reply) => {
    if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${JSON.stringify(r.lines ?? [])}`);
    return r.follow.done;
  };
  const approvalOf = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? NaN);
  const settle = () => new Promise((r) => setTimeout(r, 50));
  const register = (name: string, sshd: Sshd, root: string) =>
    t.run(`register ${name} archive host=ssh://root@127.0.0.1:${sshd.port} ssh_key=${sshd.clientKey} paths=${src} hostkey_root=${root}`, "U0ADMIN");
  const posted = (prefix: string) => chat.calls.filter((c) => c.kind === "post" && c.reply.title.startsWith(prefix));

  beforeAll(async () => {
    mkdirSync(join(rootA, "etc", "ssh"), { recursive: true });
    mkdirSync(join(rootB, "etc", "ssh"), { recursive: true });
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "f"), "data\n");
    // files-2 was made from files-1's image: the same host key in its /etc/ssh.
    generateKey(keyA);
    copyFileSync(keyA, keyB);
    copyFileSync(`${keyA}.pub`, `${keyB}.pub`);
    a = await startSshd(join(dir, "sshd-a"), { hostKey: keyA });
    b = await startSshd(join(dir, "sshd-b"), { hostKey: keyB });
    t = await testApp(
      dir,
      { roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] }, alerts: { channel: "C0ALERTS" }, servers: {} },
      clock,
      chat.port,
    );
  }, 30_000);
  afterAll(async () => {
    await t?.app.close();
    await a?.stop();
    await b?.stop();
  });

  it("two servers sharing a host key: alert at registration, regenerated with approval, then resolved", async () => {
    const r1 = await register("files-1", a, rootA);
    expect(r1).toMatchObject({ tone: "success", lines: [expect.stringMatching(/^host keys recorded: ssh-ed25519 SHA256:/)] });
    expect(posted("hostkey_regen_needed")).toHaveLength(0);
    expect((await register("files-2", b, rootB)).tone).toBe("success");
    const [alert] = posted("hostkey_regen_needed");
    expect(alert).toBeDefined();
    expect(alert!.channel).toBe("C0ALERTS");
    expect(alert!.reply.title).toMatch(/files-2 presents the same SSH host key as files-1 \(ssh-ed25519 SHA256:/);
    expect(alert!.reply.buttons).toEqual([{ label: "Regenerate host keys", command: "hostkeys regen files-2", style: "primary" }]);

    const request = await t.run(alert!.reply.buttons![0]!.command, "U0OP");
    expect(request.title).toMatch(/^Approval needed: hostkeys regen files-2/);
    expect((await t.run(`approve ${approvalOf(request)}`, "U0OP")).tone).toBe("error"); // not by the one who asked
    const final = await done(await t.run(`approve ${approvalOf(request)}`, "U0ALICE"));
    expect(final).toMatchObject({ tone: "success", lines: [expect.stringMatching(/^new host keys: .*ssh-ed25519 SHA256:/)] });
    expect(readFileSync(`${keyB}.pub`, "utf8")).not.toBe(readFileSync(`${keyA}.pub`, "utf8"));
    expect(chat.calls.find((c) => c.kind === "update" && c.ts === alert!.ts && c.reply.title.startsWith("resolved hostkey_regen_needed"))).toBeDefined();

    // The test sshd is not a service the script can restart: restart it on its port, with the new key.
    await b.stop();
    b = await startSshd(join(dir, "sshd-b"), { hostKey: keyB, port: b.port });
    expect((await t.run("hostkeys scan")).title).toMatch(/^No shared host keys among 2 server\(s\) scanned/);
    // snapbot's known_hosts carries the new key: files-2 is reachable without any accept.
    expect((await done(await t.run("create files-2 s1"))).tone).toBe("success");
  }, 60_000);

  it("a key changed behind snapbot's back: hostkey_changed, refused until an admin accepts", async () => {
    expect((await done(await t.run("create files-1 s1"))).tone).toBe("success");
    await a.stop();
    const other = join(dir, "impostor_key");
    generateKey(other);
    a = await startSshd(join(dir, "sshd-a"), { hostKey: other, port: a.port });

    const failed = await done(await t.run("create files-1 s2"));
    expect(failed.tone).toBe("error");
    expect(failed.lines?.join("\n")).toMatch(/presented a different host key/);
    await settle();
    const [alert] = posted("hostkey_changed");
    expect(alert).toBeDefined();
    expect(alert!.reply.title).toMatch(/^hostkey_changed: files-1's SSH host key changed \(now ssh-ed25519 SHA256:\S+\): possible man-in-the-middle/);

    const refusal = "files-1's SSH host key changed: an admin must run hostkeys accept files-1 after checking it";
    expect(await t.run("create files-1 s3")).toMatchObject({ tone: "error", title: expect.stringContaining(refusal) });
    expect(await t.run("restore files-1/s1", "U0OP")).toMatchObject({ tone: "error", title: expect.stringContaining(refusal) });
    expect((await t.run("hostkeys accept files-1", "U0OP")).tone).toBe("error"); // operators cannot accept
    expect(await t.run("create files-1 s3")).toMatchObject({ tone: "error", title: expect.stringContaining(refusal) });
    expect((await t.run("hostkeys scan")).lines?.join("\n")).toMatch(/files-1 \(.*different host key/);
    expect(posted("hostkey_changed")).toHaveLength(1); // a repeat updates the open alert

    const accepted = await t.run("hostkeys accept files-1", "U0ADMIN");
    expect(accepted).toMatchObject({ tone: "success", title: "files-1's new SSH host key accepted by U0ADMIN" });
    const presented = readFileSync(`${other}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    expect(readFileSync(join(dir, "data", "known_hosts"), "utf8")).toContain(`[127.0.0.1]:${a.port} ${presented}`);
    expect(chat.calls.find((c) => c.kind === "update" && c.ts === alert!.ts && c.reply.title.startsWith("resolved hostkey_changed"))).toBeDefined();
    expect((await done(await t.run("create files-1 s3"))).tone).toBe("success");
  }, 60_000);
});
