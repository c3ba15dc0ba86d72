import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, expect, it } from "vitest";
import type { HostKey } from "../../../src/drivers/driver.ts";
import { UserError } from "../../../src/errors.ts";
import { context, describeLxd, driverFor, handle, json, launch, request } from "./lxd-fixture.ts";

// Clones carry their source's SSH host keys: the driver reads the fingerprints (as ssh-keygen -l prints
// them) and regenerates the keys inside the clone with the distribution's own commands.

describeLxd("lxd driver: clones and SSH host keys", (env) => {
  beforeAll(() => launch(env(), "web-1"));

  it("clones a snapshot into a new running instance that presents the source's host key", async () => {
    const source = driverFor(env());
    await source.create(request("s1"), context());
    const res = await source.clone!(handle("s1"), "web-2", context());
    expect(res).toEqual({ settings: { instance: "web-2", lxd_conf: env().conf, lxd_dir: env().localDir, limit: 50 } });
    expect(json(env(), "/1.0/instances/web-2").status).toBe("Running");

    const clone = driverFor(env(), { name: "web-2", ...res.settings });
    const [a, b] = [await source.hostKeys!(context()), await clone.hostKeys!(context())];
    expect(a.map((k) => k.type)).toEqual(["ssh-ed25519"]);
    expect(b).toEqual(a);
    expect(a[0]!.fingerprint).toBe(sshKeygenFingerprint(a[0]!));
  });

  it("reads host keys of a stopped instance too", async () => {
    env().lxc(["copy", "web-1/s1", "web-3"]);
    expect(json(env(), "/1.0/instances/web-3").status).toBe("Stopped");
    const keys = await driverFor(env(), { name: "web-3" }).hostKeys!(context());
    expect(keys).toEqual(await driverFor(env()).hostKeys!(context()));
  });

  it("regenerates the clone's host keys: new fingerprints, unlike the source's", async () => {
    const clone = driverFor(env(), { name: "web-2" });
    const before = await clone.hostKeys!(context());
    const fresh = await clone.regenHostKeys!(context());
    expect(fresh.map((k) => k.type).sort()).toEqual(["ecdsa-sha2-nistp256", "ssh-ed25519", "ssh-rsa"]);
    const ed = fresh.find((k) => k.type === "ssh-ed25519")!;
    expect(ed.fingerprint).not.toBe(before[0]!.fingerprint);
    const source = await driverFor(env()).hostKeys!(context());
    expect(ed.fingerprint).not.toBe(source[0]!.fingerprint);
    expect(await clone.hostKeys!(context())).toEqual(fresh);
    for (const k of fresh) expect(k.fingerprint).toBe(sshKeygenFingerprint(k));
    // Every old key file was replaced, private ones included: exactly the three new pairs are there.
    const listing = json<string[]>(env(), "/1.0/instances/web-2/files?path=/etc/ssh").sort();
    expect(listing).toEqual(["ecdsa", "ed25519", "rsa"].flatMap((t) => [`ssh_host_${t}_key`, `ssh_host_${t}_key.pub`]));
    const oldBlob = before[0]!.publicKey.split(" ")[1]!;
    expect(env().lxc(["exec", "web-2", "--", "sh", "-c", "cat /etc/ssh/*.pub"])).not.toContain(oldBlob);
  });

  it("says the instance is missing rather than that it has no host keys", async () => {
    await expect(driverFor(env(), { name: "ghost" }).hostKeys!(context())).rejects.toMatchObject({ code: "instance_missing" });
  });

  it("asks for the instance to be started before regenerating", async () => {
    const err = await driverFor(env(), { name: "web-3" }).regenHostKeys!(context()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe("web-3 is stopped: start it (lxc start web-3) to regenerate its host keys");
  });
});

/** What OpenSSH itself prints for the key: the reference our fingerprints must equal. */
function sshKeygenFingerprint(key: HostKey): string {
  const dir = mkdtempSync(join(tmpdir(), "snapbot-key-"));
  try {
    writeFileSync(join(dir, "k.pub"), `${key.publicKey}\n`);
    return execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", join(dir, "k.pub")], { encoding: "utf8" }).split(" ")[1]!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
