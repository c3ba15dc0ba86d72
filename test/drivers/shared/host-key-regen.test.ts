import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DriverContext, DriverDeps, HostKey, SnapshotDriver } from "../../../src/drivers/driver.ts";
import { createLxdDriver } from "../../../src/drivers/lxd/lxd-driver.ts";
import { parseRegenOutput } from "../../../src/drivers/shared/host-key-regen.ts";
import { withSsh } from "../../../src/drivers/shared/with-ssh.ts";
import { UserError } from "../../../src/errors.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import type { LxdEnv } from "../../helpers/lxd-env.ts";
import { generateKey, sshdAvailable, startSshd, type Sshd } from "../../helpers/sshd.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { describeLxd, launch } from "../lxd/lxd-fixture.ts";

// The one host-key regeneration script (src/drivers/shared/host-key-regen.ts), run for real: over SSH on a
// real sshd (through withSsh around a driver that is not the archive driver) and inside a real LXD instance,
// with new fingerprints, the "#restarted:" line as the driver logs it, and a machine without ssh-keygen
// refused in one line with its old keys kept. Under CI a missing sshd or lxd fails, never skips.

/** A context whose log keeps what the drivers write, to read the parsed "#restarted:" line back. */
function recordingContext(): DriverContext & { logged: Array<Record<string, unknown>> } {
  const logged: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
  return { signal: new AbortController().signal, log, progress: () => undefined, logged };
}
const restartedOf = (ctx: { logged: Array<Record<string, unknown>> }) =>
  ctx.logged.find((l) => l.msg === "host keys regenerated")?.restarted;
const refusal = (where: string, server: string) =>
  `${where} has no ssh-keygen, so its host keys were left as they were: install OpenSSH there, then type hostkeys regen ${server}`;

/** What OpenSSH itself prints for the key: the reference our fingerprints must equal. */
function sshKeygenFingerprint(dir: string, key: HostKey): string {
  const file = join(dir, `check-${key.type}.pub`);
  writeFileSync(file, `${key.publicKey}\n`);
  return execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", file], { encoding: "utf8" }).split(" ")[1]!;
}

it("a script that stopped before its report is an error, not an empty success", () => {
  expect(() => parseRegenOutput("ssh-ed25519 AAAA\n", { server: "s", where: "s" })).toThrow(/stopped before it reported its result/);
});

const sshEnabled = sshdAvailable() || process.env.CI === "true";
const dir = tempDir("snapbot-regen-");

describe.runIf(sshEnabled)("the one regeneration script over SSH, for any driver (withSsh)", () => {
  const log = pino({ level: "silent" });
  const deps: DriverDeps = { runner: createLocalRunner(log), storageDir: join(dir, "data", "snapshots"), fsync: false, log };
  const knownHosts = join(dir, "data", "known_hosts");
  let plain: Sshd;
  let bare: Sshd;
  const rootA = join(dir, "root-a");
  const rootB = join(dir, "root-b");
  const keyA = join(rootA, "etc", "ssh", "ssh_host_ed25519_key");
  const keyB = join(rootB, "etc", "ssh", "ssh_host_ed25519_key");

  // Not the archive driver: a create that asks the machine its name, through whatever runner it was built with.
  const nodeDriver = (d: DriverDeps): SnapshotDriver => ({
    kind: "node",
    async create(_req, ctx) {
      const node = (await d.runner.run("uname", ["-n"], { signal: ctx.signal })).stdout.trim();
      const via = (await d.runner.run("printenv", ["SSH_CONNECTION"], { signal: ctx.signal }).catch(() => ({ stdout: "" }))).stdout.trim();
      return { location: null, size: null, checksum: null, parts: [], details: { node, via } };
    },
    delete: async () => undefined,
  });
  const over = (sshd: Sshd, root: string, name = "node-1", talks?: Array<keyof SnapshotDriver>) =>
    withSsh(name, { host: `ssh://root@127.0.0.1:${sshd.port}`, ssh_key: sshd.clientKey, hostkey_root: root }, deps, nodeDriver, talks);
  const request = { server: "node-1", name: "s1", createdAt: Date.now(), stateful: false };

  beforeAll(async () => {
    for (const k of [keyA, keyB]) {
      mkdirSync(join(k, ".."), { recursive: true });
      generateKey(k);
    }
    // A server whose PATH has the shell and the file tools the script needs, but no ssh-keygen.
    const bin = join(dir, "bin-without-keygen");
    mkdirSync(bin);
    const which = (c: string) => execFileSync("sh", ["-c", `command -v ${c}`], { encoding: "utf8" }).trim();
    for (const c of ["sh", "cat", "mkdir", "rm", "ls"]) symlinkSync(which(c), join(bin, c));
    plain = await startSshd(join(dir, "sshd-a"), { hostKey: keyA });
    bare = await startSshd(join(dir, "sshd-b"), { hostKey: keyB, config: [`SetEnv PATH=${bin}`] });
  }, 30_000);
  afterAll(async () => {
    await plain?.stop();
    await bare?.stop();
  });

  it("runs a non-archive driver's commands on the sshd's side, recording the host key first", async () => {
    const unguarded = over(plain, rootA, "node-0", []); // nothing records the key before create talks
    await expect(unguarded.create(request, recordingContext())).rejects.toMatchObject({ code: "ssh_hostkey_unknown" });
    expect(existsSync(knownHosts) ? readFileSync(knownHosts, "utf8") : "").toBe("");

    const driver = over(plain, rootA);
    const result = await driver.create(request, recordingContext());
    expect(result.details?.node).toBe(execFileSync("uname", ["-n"], { encoding: "utf8" }).trim());
    expect(result.details?.via).toMatch(new RegExp(`^127\\.0\\.0\\.1 \\d+ 127\\.0\\.0\\.1 ${plain.port}$`)); // sshd's own session
    const blob = plain.hostPublicKey.split(" ").slice(0, 2).join(" ");
    expect(readFileSync(knownHosts, "utf8")).toContain(`[127.0.0.1]:${plain.port} ${blob}`);
    expect((await driver.hostKeys!(recordingContext())).map((k) => k.publicKey.split(" ").slice(0, 2).join(" "))).toContain(blob);
    expect(await driver.endpoints!()).toContain(`127.0.0.1:${plain.port}`);
  });

  it("regenerates the server's keys: new fingerprints, the known_hosts entry replaced, nothing restarted outside /", async () => {
    const driver = over(plain, rootA);
    const before = await driver.hostKeys!(recordingContext());
    const ctx = recordingContext();
    const fresh = await driver.regenHostKeys!(ctx);
    expect(fresh.map((k) => k.type)).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]); // OpenSSH's order
    expect(restartedOf(ctx)).toBe("no (hostkey_root is not /)");
    const ed = fresh.find((k) => k.type === "ssh-ed25519")!;
    expect(ed.fingerprint).not.toBe(before[0]!.fingerprint);
    for (const k of fresh) expect(k.fingerprint).toBe(sshKeygenFingerprint(dir, k));
    expect(readFileSync(`${keyA}.pub`, "utf8")).toContain(ed.publicKey.split(" ")[1]!);
    expect(readFileSync(knownHosts, "utf8")).not.toContain(before[0]!.publicKey.split(" ")[1]!);

    // The test sshd is not a service the script restarts: restart it with the new key, on its port.
    await plain.stop();
    plain = await startSshd(join(dir, "sshd-a"), { hostKey: keyA, port: plain.port });
    expect((await driver.hostKeys!(recordingContext())).find((k) => k.type === "ssh-ed25519")?.fingerprint).toBe(ed.fingerprint);
    expect((await driver.create(request, recordingContext())).details?.via).toMatch(new RegExp(` ${plain.port}$`));
  });

  it("a server without ssh-keygen: refused in one line, its keys untouched", async () => {
    const driver = over(bare, rootB, "node-2");
    await driver.hostKeys!(recordingContext()); // recorded: regen needs a recorded key
    const files = readdirSync(join(rootB, "etc", "ssh")).sort();
    const keyBefore = readFileSync(keyB, "utf8");
    const err = await driver.regenHostKeys!(recordingContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("ssh_keygen_missing");
    expect((err as Error).message).toBe(refusal(`node-2 (ssh://root@127.0.0.1:${bare.port})`, "node-2"));
    expect(readdirSync(join(rootB, "etc", "ssh")).sort()).toEqual(files);
    expect(readFileSync(keyB, "utf8")).toBe(keyBefore);
  });
});

describeLxd("the one regeneration script inside an LXD instance", (env) => {
  const log = pino({ level: "silent" });
  const deps = { runner: createLocalRunner(log), storageDir: "/nonexistent", fsync: false, log };
  const driver = (e: LxdEnv, name: string) =>
    createLxdDriver({ name, driver: "lxd", limit: 50, lxd_conf: e.conf, lxd_dir: e.localDir }, deps);
  const sh = (name: string, script: string) => env().lxc(["exec", name, "--", "sh", "-c", script]);
  /** A `service` command in the instance that runs "sshd" (status 0) and restarts it the way `restart` says. */
  const fakeService = (name: string, restart: string) => {
    const file = join(env().root, `service-${name}`);
    writeFileSync(file, `#!/bin/sh\ncase "$1 $2" in\n"sshd status") exit 0 ;;\n"sshd restart") ${restart} ;;\nesac\nexit 3\n`);
    env().lxc(["file", "push", "--mode", "0755", file, `${name}/usr/bin/service`]);
  };

  beforeAll(() => {
    launch(env(), "box-1");
    launch(env(), "box-2");
  }, 120_000);

  it("regenerates inside the instance and restarts sshd with the service manager that runs it", async () => {
    const d = driver(env(), "box-1");
    const before = await d.hostKeys!(recordingContext());
    fakeService("box-1", "exit 1");
    const failedCtx = recordingContext();
    const first = await d.regenHostKeys!(failedCtx); // a failed restart still leaves new keys, and says so
    expect(restartedOf(failedCtx)).toBe("failed (service sshd restart)");
    expect(first[0]!.fingerprint).not.toBe(before[0]!.fingerprint);

    fakeService("box-1", "echo restarted > /tmp/sshd-restarted; exit 0");
    const ctx = recordingContext();
    const fresh = await d.regenHostKeys!(ctx);
    expect(restartedOf(ctx)).toBe("service sshd restart");
    expect(sh("box-1", "cat /tmp/sshd-restarted")).toBe("restarted\n");
    expect(fresh.map((k) => k.type)).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]);
    expect(fresh.map((k) => k.fingerprint)).not.toContain(first[0]!.fingerprint);
    expect(await d.hostKeys!(recordingContext())).toEqual(fresh); // what LXD's file API reads back
    for (const k of fresh) expect(k.fingerprint).toBe(sshKeygenFingerprint(env().root, k));
  });

  it("an instance without ssh-keygen: refused in one line, its keys untouched", async () => {
    sh("box-2", "rm /usr/bin/ssh-keygen");
    const d = driver(env(), "box-2");
    const before = await d.hostKeys!(recordingContext());
    const files = sh("box-2", "ls /etc/ssh");
    const err = await d.regenHostKeys!(recordingContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe(refusal("box-2", "box-2"));
    expect(sh("box-2", "ls /etc/ssh")).toBe(files);
    expect(files).toContain("ssh_host_ed25519_key\n");
    expect(await d.hostKeys!(recordingContext())).toEqual(before);
  });
});
