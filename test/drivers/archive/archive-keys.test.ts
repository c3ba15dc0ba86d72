import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { createArchiveDriver } from "../../../src/drivers/archive/archive-driver.ts";
import type { ArchiveSettings } from "../../../src/drivers/archive/archive-settings.ts";
import type { DriverContext, SnapshotDriver, SnapshotHandle } from "../../../src/drivers/driver.ts";
import { BackendError, UserError } from "../../../src/errors.ts";
import type { StorageEncryption } from "../../../src/storage/encryption/at-rest.ts";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { ageKey, alterAndRehash, type AgeKey } from "../../helpers/age-identity.ts";
import { rejection } from "../../helpers/outcomes.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// The key faults of an encrypted archive, against the real driver over one storage folder read with different
// storage.encryption settings: the wrong identity, none configured, no recipients for a sensitive server, and
// export (raw mode) decrypting on the way, or refusing a stream altered behind snapbot's back. Each is one line,
// and nothing is written: no target folder, no export file, no snapshot folder.

const log = pino({ level: "silent" });
const root = tempDir("snapbot-keys-");
const storage = join(root, "storage");
const site = join(root, "site");
const image = join(root, "disk.img");
let right: AgeKey;
let wrong: AgeKey;
const ctx = (): DriverContext => ({ signal: new AbortController().signal, log, progress: () => {} });
const handle = (server: string, name: string): SnapshotHandle => ({ server, name, location: join(storage, server, name), createdAt: 0 });

function driver(encryption: StorageEncryption | undefined, over: Partial<ArchiveSettings> & { name?: string } = {}): SnapshotDriver {
  const settings = { name: "vault-1", driver: "archive", mode: "tar", paths: [site], exclude: [], host: "local", compression: "auto", limit: 50, ...over } as const;
  return createArchiveDriver(settings as ArchiveSettings & { name: string }, { runner: createLocalRunner(log), storageDir: storage, fsync: false, log, encryption, sensitive: true });
}
const create = (d: SnapshotDriver, server: string, name: string) => d.create({ server, name, createdAt: Date.UTC(2026, 0, 1), stateful: false }, ctx());

beforeAll(async () => {
  right = await ageKey(root, "right");
  wrong = await ageKey(root, "wrong");
  mkdirSync(join(site, "conf"), { recursive: true });
  writeFileSync(join(site, "conf", "app.conf"), "secret = 1\n");
  writeFileSync(image, Buffer.concat([randomBytes(64 * 1024), Buffer.alloc(4 * 1024 * 1024)]));
  await create(driver({ recipients: [right.recipient], identity_file: right.file }), "vault-1", "s1");
});

describe("restoring an encrypted snapshot needs one of its recipients' identities", () => {
  const target = join(root, "restore-here");

  it("the wrong identity: refused with one line when the restore is described (before approval) and when it runs", async () => {
    const d = driver({ recipients: [right.recipient], identity_file: wrong.file });
    const line = `no identity in ${wrong.file} matches this snapshot's recipients (vault-1/s1: ${right.recipient.slice(0, 12)}…): put one of their identities in it`;
    const described = await rejection(d.describeRestore!(handle("vault-1", "s1"), { target }), UserError);
    expect(described).toMatchObject({ code: "identity_mismatch", message: line });
    const ran = await rejection(d.restore!(handle("vault-1", "s1"), { target }, ctx()), UserError);
    expect(ran.message).toBe(line);
    expect(existsSync(target)).toBe(false); // not even the --target folder
  });

  it("no identity_file configured: refused, saying which key to set; plain verify still works without it", async () => {
    const d = driver({ recipients: [right.recipient] });
    const e = await rejection(d.restore!(handle("vault-1", "s1"), { target }, ctx()), UserError);
    expect(e).toMatchObject({ code: "no_identity" });
    expect(e.message).toBe(`vault-1/s1 is encrypted (age, to ${right.recipient.slice(0, 12)}…): set storage.encryption.identity_file to the identity of one of them to read it`);
    expect(existsSync(target)).toBe(false);
    expect(await d.verify!(handle("vault-1", "s1"), ctx())).toMatchObject({ ok: true, problems: [] });
    // --full cannot be done without the key: the operation fails, the snapshot is not called broken for it.
    expect(await rejection(d.verify!(handle("vault-1", "s1"), ctx(), { full: true }), UserError)).toMatchObject({ code: "no_identity" });
  });

  it("the right identity (with others in the same file) restores it under --target", async () => {
    writeFileSync(join(root, "both.key"), `${readFileSync(wrong.file, "utf8")}\n${readFileSync(right.file, "utf8")}`, { mode: 0o600 });
    const d = driver({ recipients: [right.recipient], identity_file: join(root, "both.key") });
    await d.restore!(handle("vault-1", "s1"), { target }, ctx());
    expect(readFileSync(join(target, site, "conf", "app.conf"), "utf8")).toBe("secret = 1\n");
  });
});

describe("a sensitive server with no recipients", () => {
  it("create is refused with the start-up line, before anything is stored", async () => {
    const e = await rejection(create(driver({ recipients: [] }, { name: "vault-2" }), "vault-2", "s1"), UserError);
    expect(e).toMatchObject({ code: "no_recipients", message: "servers.vault-2 is sensitive: set storage.encryption.recipients (age1…)" });
    expect(existsSync(join(storage, "vault-2"))).toBe(false);
  });
});

describe("export of an encrypted raw snapshot", () => {
  const keys = () => ({ recipients: [right.recipient], identity_file: right.file });
  const raw = () => driver(keys(), { name: "disk-1", mode: "raw", paths: [], device: image, part_size: "64KiB" });

  it("decrypts on the way: qemu-img reads the vmdk as identical to the device", async () => {
    await create(raw(), "disk-1", "s1");
    const out = await raw().export!(handle("disk-1", "s1"), "vmdk", ctx());
    expect(execFileSync("qemu-img", ["compare", "-f", "raw", "-F", "vmdk", image, out.file], { encoding: "utf8" })).toMatch(/identical/);
  });

  it("a ciphertext altered with its hashes rewritten: export fails on age's MAC and leaves no image behind", async () => {
    await create(raw(), "disk-1", "s2");
    const folder = join(storage, "disk-1", "s2");
    alterAndRehash(folder, 0, 4000);
    const e = await rejection(raw().export!(handle("disk-1", "s2"), "qcow2", ctx()), BackendError);
    expect(e).toMatchObject({ code: "export_failed" });
    expect(e.message).toMatch(/^reading disk-1\/s2 failed while exporting: the stored stream does not decrypt: age's MAC does not match at chunk 0/);
    expect(readdirSync(folder).sort()).toEqual([".parts", "README.txt", "manifest.json"]);
  });
});
