import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerRow } from "../../../db/types.ts";
import type { DriverContext, SnapshotHandle } from "../../../src/drivers/driver.ts";
import { createDriverRegistry } from "../../../src/drivers/registry.ts";
import { BUILTIN_DRIVERS } from "../../../src/drivers/index.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { sshdAvailable, startSshd, type Sshd } from "../../helpers/sshd.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { ageKey, filesContaining, type AgeKey } from "../../helpers/age-identity.ts";

// A sensitive archive server reached over SSH (a real sshd on 127.0.0.1): tar | zstd run on the server, the
// compressed bytes cross the connection and are encrypted here, before they are cut into parts; a restore
// decrypts here and sends the compressed stream back to tar -x on the server. `sensitive: true` is read by the
// driver registry from the server's settings, as for a configured server. In CI a missing sshd fails.
const enabled = sshdAvailable() || process.env.CI === "true";
const suite = enabled ? describe : describe.skip;
const MARKER = "SNAPBOT-SSH-PLAINTEXT-MARKER-91c2";
const log = pino({ level: "silent" });
const dir = tempDir("snapbot-ssh-age-");
const storage = join(dir, "state", "storage");
const tree = join(dir, "remote", "srv");
let sshd: Sshd;
let key: AgeKey;

const ctx = (): DriverContext => ({ signal: new AbortController().signal, log, progress: () => {} });
const handle = (name: string): SnapshotHandle => ({ server: "vault-ssh", name, location: join(storage, "vault-ssh", name), createdAt: 0 });

function row(settings: Record<string, unknown>): ServerRow {
  return { id: 1, name: "vault-ssh", driver: "archive", settings, source: "config", channel: null, cloned_from: null, registered_by: null, created_at: 0, removed_at: null };
}

beforeAll(async () => {
  if (!enabled) return;
  sshd = await startSshd(join(dir, "sshd"));
  key = await ageKey(dir, "snapbot");
  mkdirSync(join(tree, "conf"), { recursive: true });
  writeFileSync(join(tree, "conf", "db.conf"), `password = ${MARKER}\n`);
  writeFileSync(join(tree, "data.bin"), randomBytes(256 * 1024));
}, 20_000);
afterAll(async () => {
  await sshd?.stop();
});

suite("a sensitive archive server over ssh", () => {
  it("create stores only ciphertext; verify --full and a restore under --target decrypt it here", async () => {
    const drivers = createDriverRegistry(BUILTIN_DRIVERS, {
      runner: createLocalRunner(log),
      storageDir: storage,
      fsync: false,
      log,
      encryption: { recipients: [key.recipient], identity_file: key.file },
    });
    const settings = { host: `ssh://root@127.0.0.1:${sshd.port}`, ssh_key: sshd.clientKey, paths: [tree], part_size: "64KiB", sensitive: true };
    const driver = drivers.get(row(settings));
    const made = await driver.create({ server: "vault-ssh", name: "s1", createdAt: Date.UTC(2026, 0, 1), stateful: false }, ctx());
    expect(made.details).toMatchObject({ encryption: { format: "age-encryption.org/v1", recipients: [key.recipient] } });
    const folder = join(storage, "vault-ssh", "s1");
    expect(readFileSync(join(folder, ".parts", "part-000000")).subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    expect(filesContaining(folder, MARKER)).toEqual([]);
    const full = await driver.verify!(handle("s1"), ctx(), { full: true });
    expect(full).toMatchObject({ ok: true, notes: [expect.stringMatching(/^decrypted \(age's MAC checked on every chunk\)/)] });
    const target = join(dir, "restored");
    await driver.restore!(handle("s1"), { target }, ctx());
    expect(readFileSync(join(target, tree, "conf", "db.conf"), "utf8")).toBe(`password = ${MARKER}\n`);
    expect(readFileSync(join(target, tree, "data.bin")).equals(readFileSync(join(tree, "data.bin")))).toBe(true);
  }, 30_000);

  it("sensitive: false on the same server stores the plain zstd stream (the marker shows), for contrast", async () => {
    const drivers = createDriverRegistry(BUILTIN_DRIVERS, { runner: createLocalRunner(log), storageDir: storage, fsync: false, log, encryption: { recipients: [key.recipient] } });
    const settings = { host: `ssh://root@127.0.0.1:${sshd.port}`, ssh_key: sshd.clientKey, paths: [tree], sensitive: false };
    const made = await drivers.get(row(settings)).create({ server: "vault-ssh", name: "s2", createdAt: Date.UTC(2026, 0, 1), stateful: false }, ctx());
    expect(made.details?.encryption).toBeUndefined();
    expect(filesContaining(join(storage, "vault-ssh", "s2"), MARKER).length).toBeGreaterThan(0);
  }, 30_000);
});
