import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startSshd, type Sshd } from "../../helpers/sshd.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { approvalOf, done, roles } from "./copy-cases.ts";

// An archive server over SSH (a real sshd on 127.0.0.1): its snapshot is copied to a folder target after create,
// and once the local one is deleted, restore --from writes the copy back over ssh — the driver built on the
// target's store keeps the ssh runner and the host-key check (withSsh gives withStore's driver the same wrapping).

const dir = tempDir("snapbot-copy-ssh-");
let sshd: Sshd | undefined;
beforeAll(async () => {
  sshd = await startSshd(join(dir, "sshd")); // throws when sshd is missing: never a skip
});
afterAll(() => sshd?.stop());

describe("copies of an archive server over SSH", () => {
  it("copies after create, and restores from the copy over ssh after the local snapshot is deleted", async () => {
    const site = join(dir, "site");
    mkdirSync(join(site, "conf"), { recursive: true });
    writeFileSync(join(site, "conf/app.conf"), "remote = 1\n");
    const server = { driver: "archive", host: `ssh://root@127.0.0.1:${sshd!.port}`, ssh_key: sshd!.clientKey, paths: [site], copies: ["offsite"] };
    const { app, run } = await testApp(join(dir, "app"), { roles, storage: { path: "snaps", targets: { offsite: { path: join(dir, "offsite") } } }, servers: { remote: server } });
    const made = await done(await run("create remote r1", "U0OP"));
    expect(made.lines).toContainEqual(expect.stringMatching(/^copied to offsite and read back/));
    expect((await done(await run("delete remote/r1", "U0OP"))).tone).toBe("success");
    writeFileSync(join(site, "conf/app.conf"), "remote = 2 (after)\n");
    const out = join(dir, "out");
    const request = await run(`restore remote/r1 --from offsite --target ${out}`, "U0OP");
    expect(request.fields).toContainEqual(["reads", expect.stringMatching(/^the copy on offsite: done, last verified /)]);
    const final = await done(await run(`approve ${approvalOf(request)}`, "U0ALICE"));
    expect(final.tone, final.lines?.join("\n")).toBe("success");
    expect(readFileSync(join(out, site, "conf/app.conf"), "utf8")).toBe("remote = 1\n");
    await app.close();
  }, 60_000);
});
