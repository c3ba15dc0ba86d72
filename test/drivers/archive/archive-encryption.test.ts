import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log/logger.ts";
import type { Reply } from "../../../src/reply.ts";
import { testApp } from "../../helpers/test-app.ts";
import { fakeBackend, fakeDriverModule } from "../../helpers/fake-driver.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { waitFor } from "../../helpers/process-tree.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { ageDecryptParts, ageKey, alterAndRehash, filesContaining, type AgeKey } from "../../helpers/age-identity.ts";

// A sensitive archive server through the bot (real tar, zstd, age keys, SQLite): every stored file is ciphertext
// (a marker written into the sources is found in a plain server's parts and in none of the sensitive one's),
// plain verify needs no key, verify --full decrypts and decompresses to the end, restore decrypts. A ciphertext
// altered with its hashes rewritten passes plain verify, and verify --full and restore find it: broken, alerted,
// nothing written. The identity's secret never reaches the log, the ledger or chat.

const MARKER = "SNAPBOT-PLAINTEXT-MARKER-5e1f";
const ageCli = existsSync("/usr/bin/age") || process.env.CI === "true"; // .ci/run installs it: in CI it must be there
const root = tempDir("snapbot-encrypt-");
const site = join(root, "site");
const logLines: string[] = [];
const chat = recordingChat();
let key: AgeKey;
let t: Awaited<ReturnType<typeof testApp>>;

const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};
const approvalOf = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? NaN);
const folder = (server: string, snap: string) => join(root, "snaps", server, snap);
const appConf = () => readFileSync(join(site, "conf", "app.conf"), "utf8");
const stateOf = async (server: string, name: string) =>
  (await t.app.ledger.snapshots.list((await t.app.ledger.servers.get(server))!.id, { all: true, limit: 100, offset: 0 })).rows.find((r) => r.name === name)?.state;

beforeAll(async () => {
  key = await ageKey(root, "snapbot");
  mkdirSync(join(site, "conf"), { recursive: true });
  writeFileSync(join(site, "conf", "app.conf"), "version = A\n");
  writeFileSync(join(site, "conf", `token-${MARKER}.txt`), `api_token = ${MARKER}\n`); // in a name and in content
  writeFileSync(join(site, "blob.bin"), randomBytes(300 * 1024)); // incompressible: the stream spans several parts
  const destination = new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) });
  const file = {
    roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
    alerts: { channel: "C0ALERTS" },
    storage: {
      path: "snaps",
      encryption: { recipients: [key.recipient], identity_file: key.file },
      targets: { offsite: { path: join(root, "offsite") } },
    },
    servers: {
      "vault-1": { driver: "archive", paths: [site], part_size: "64KiB", sensitive: true },
      "plain-1": { driver: "archive", paths: [site], part_size: "64KiB" },
    },
  };
  t = await testApp(root, file, undefined, chat.port, { log: createLogger({ level: "debug", destination: destination as never }) });
});
afterAll(() => t?.app.close());

describe("a sensitive server's snapshots are age-encrypted at rest", () => {
  it("create: every stored file lacks the marker a plain server's parts show, and the parts are one age stream", async () => {
    for (const s of ["vault-1", "plain-1"]) expect((await done(await t.run(`create ${s} s1`, "U0OP"))).tone).toBe("success");
    expect(filesContaining(folder("plain-1", "s1"), MARKER).length).toBeGreaterThan(0); // the control: tar+zstd alone shows it
    expect(filesContaining(join(root, "snaps", "vault-1"), MARKER)).toEqual([]);
    const parts = readdirSync(join(folder("vault-1", "s1"), ".parts")).sort();
    expect(parts.length).toBeGreaterThanOrEqual(5);
    expect(readFileSync(join(folder("vault-1", "s1"), ".parts", parts[0]!)).subarray(0, 22).toString()).toBe("age-encryption.org/v1\n");
  });

  it("the manifest records the format and the recipients, never an identity; README.txt says how to decrypt", () => {
    const m = JSON.parse(readFileSync(join(folder("vault-1", "s1"), "manifest.json"), "utf8"));
    expect(m.encryption).toEqual({ format: "age-encryption.org/v1", recipients: [key.recipient] });
    expect(JSON.parse(readFileSync(join(folder("plain-1", "s1"), "manifest.json"), "utf8")).encryption).toBeUndefined();
    expect(readFileSync(join(folder("vault-1", "s1"), "README.txt"), "utf8")).toContain("| age -d -i /path/to/age-identity.txt | zstd -d | tar -xpf -");
    expect(filesContaining(join(root, "snaps"), "AGE-SECRET-KEY-1")).toEqual([]);
  });

  it("show says it is encrypted and to whom; a plain snapshot says nothing of it", async () => {
    expect((await t.run("show vault-1/s1")).fields).toContainEqual(["encrypted", `age, to ${key.recipient} (restore and verify --full need an identity of one)`]);
    expect((await t.run("show plain-1/s1")).fields?.map(([k]) => k)).not.toContain("encrypted");
  });

  it.runIf(ageCli)("the age CLI decrypts the concatenated parts into the zstd stream of the sources (README's restore by hand)", () => {
    const zst = ageDecryptParts(folder("vault-1", "s1"), key.file);
    const listing = execFileSync("bash", ["-c", "zstd -d | tar -t"], { input: zst, encoding: "utf8" });
    expect(listing).toContain(`conf/token-${MARKER}.txt`);
  });

  it("plain verify re-hashes the ciphertext; verify --full also decrypts, decompresses and lists it to its end", async () => {
    const plain = await done(await t.run("verify vault-1/s1"));
    expect(plain).toMatchObject({ tone: "success", title: expect.stringMatching(/^vault-1\/s1 verified: .* every part matches/) });
    expect(plain.lines ?? []).toEqual([]);
    const full = await done(await t.run("verify vault-1/s1 --full"));
    expect(full.tone).toBe("success");
    expect(full.lines).toEqual([expect.stringMatching(/^decrypted \(age's MAC checked on every chunk\), decompressed and listed by tar to its end: \d/)]);
  });

  it("verify --full of an unencrypted snapshot: decompressed and listed to its end (no age step)", async () => {
    const full = await done(await t.run("verify plain-1/s1 --full"));
    expect(full).toMatchObject({ tone: "success", lines: [expect.stringMatching(/^decompressed and listed by tar to its end: /)] });
  });

  it("restore decrypts and puts the files back, after a second person approves", async () => {
    writeFileSync(join(site, "conf", "app.conf"), "version = B\n");
    const request = await t.run("restore vault-1/s1", "U0OP");
    expect(request.title).toMatch(/^Approval needed: restore vault-1\/s1/);
    expect(JSON.stringify(request)).toContain("it is encrypted (age): it is decrypted to its end");
    const final = await done(await t.run(`approve ${approvalOf(request)}`, "U0ALICE"));
    expect(final.tone).toBe("success");
    expect(appConf()).toBe("version = A\n");
  });
});

describe("a copy on a storage target", () => {
  it("holds the same ciphertext (no marker), and verify --full --from reads it through age there", async () => {
    expect((await done(await t.run("copy vault-1/s1 offsite", "U0OP"))).tone).toBe("success");
    expect(readdirSync(join(root, "offsite", "vault-1", "s1", ".parts")).length).toBeGreaterThanOrEqual(5);
    expect(filesContaining(join(root, "offsite"), MARKER)).toEqual([]);
    const full = await done(await t.run("verify vault-1/s1 --full --from offsite"));
    expect(full).toMatchObject({ tone: "success", title: expect.stringMatching(/^the copy of vault-1\/s1 on offsite verified: /) });
    expect(full.lines).toEqual([expect.stringMatching(/^decrypted \(age's MAC checked on every chunk\), decompressed and listed by tar to its end/)]);
  });

  it("a copy altered there with its hashes rewritten: plain verify --from passes, --full makes the copy broken", async () => {
    alterAndRehash(join(root, "offsite", "vault-1", "s1"), 1, 333);
    expect((await done(await t.run("verify vault-1/s1 --from offsite"))).tone).toBe("success");
    const full = await done(await t.run("verify vault-1/s1 --full --from offsite"));
    expect(full).toMatchObject({ tone: "error", title: expect.stringMatching(/^the copy of vault-1\/s1 on offsite is broken/) });
    expect(full.lines?.[0]).toMatch(/^the stored stream does not decrypt: age's MAC does not match/);
    expect(await stateOf("vault-1", "s1")).toBe("done"); // the local snapshot is another place, untouched
  });
});

describe("a ciphertext altered behind snapbot's back, its hashes rewritten", () => {
  it("passes plain verify, and verify --full makes it broken with the usual alert", async () => {
    expect((await done(await t.run("create vault-1 s2", "U0OP"))).tone).toBe("success");
    alterAndRehash(folder("vault-1", "s2"), 2, 1000);
    expect((await done(await t.run("verify vault-1/s2"))).tone).toBe("success"); // the hashes match: only age can tell
    const full = await done(await t.run("verify vault-1/s2 --full"));
    expect(full).toMatchObject({ tone: "error", title: expect.stringMatching(/^vault-1\/s2 is broken \(operation #\d+\): it will not be used to restore$/) });
    expect(full.lines).toEqual([expect.stringMatching(/^the stored stream does not decrypt: age's MAC does not match at chunk \d+ .*it was altered/)]);
    expect(await stateOf("vault-1", "s2")).toBe("broken");
    const alert = await waitFor("the snapshot_broken alert", () => chat.calls.find((c) => c.channel === "C0ALERTS" && /vault-1\/s2 is broken/.test(c.reply.title)));
    expect(alert.reply.lines?.[0]).toMatch(/does not decrypt/);
  });

  it("a restore from it (still done: never fully verified) writes nothing and marks it broken", async () => {
    expect((await done(await t.run("create vault-1 s3", "U0OP"))).tone).toBe("success");
    alterAndRehash(folder("vault-1", "s3"), 3, 7);
    writeFileSync(join(site, "conf", "app.conf"), "version = C\n");
    const request = await t.run("restore vault-1/s3", "U0OP");
    const final = await done(await t.run(`approve ${approvalOf(request)}`, "U0ALICE"));
    expect(final.tone).toBe("error");
    expect(JSON.stringify(final)).toMatch(/vault-1\/s3 is broken and will not be restored: the stored stream does not decrypt: age's MAC/);
    expect(appConf()).toBe("version = C\n"); // not a byte written
    expect(await stateOf("vault-1", "s3")).toBe("broken");
    await waitFor("the restore's broken alert", () => chat.calls.find((c) => c.channel === "C0ALERTS" && /vault-1\/s3 is broken: a restore from it was refused/.test(c.reply.title)));
  });

  it("an unencrypted one whose zstd bytes were altered the same way: verify --full says it does not decompress", async () => {
    expect((await done(await t.run("create plain-1 s2", "U0OP"))).tone).toBe("success");
    alterAndRehash(folder("plain-1", "s2"), 1, 500);
    expect((await done(await t.run("verify plain-1/s2"))).tone).toBe("success");
    const full = await done(await t.run("verify plain-1/s2 --full"));
    expect(full.tone).toBe("error");
    expect(full.lines?.[0]).toMatch(/^it does not decompress and list to its end: (zstd|tar) failed/);
    expect(await stateOf("plain-1", "s2")).toBe("broken");
  });
});

describe("the identity never leaves its file", () => {
  it("an identity file readable by others, or holding a mangled key, fails verify --full with one line (the snapshot stays done)", async () => {
    chmodSync(key.file, 0o644);
    const open = await done(await t.run("verify vault-1/s1 --full"));
    expect(open.tone).toBe("error");
    expect(JSON.stringify(open)).toContain(`storage.encryption.identity_file: ${key.file} is readable by others (mode 0644): it must be 0600 (chmod 600 ${key.file})`);
    chmodSync(key.file, 0o600);
    const good = readFileSync(key.file, "utf8");
    const typo = `${key.identity.slice(0, -1)}${key.identity.endsWith("Q") ? "P" : "Q"}`; // a typo: still mostly the secret
    writeFileSync(key.file, good.replace(key.identity, typo));
    const mangled = await done(await t.run("verify vault-1/s1 --full"));
    expect(JSON.stringify(mangled)).toContain(`${key.file} line 3 is not an age X25519 identity (AGE-SECRET-KEY-1…)`);
    writeFileSync(key.file, good);
    expect(await stateOf("vault-1", "s1")).toBe("done");
  });

  it("no log line, no ledger byte (WAL included) and no chat message holds the secret key", () => {
    const secret = key.identity;
    const log = logLines.join("");
    expect(log.length).toBeGreaterThan(1000); // debug lines of all the work above were captured
    expect(log).not.toContain(secret);
    expect(log).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{10}/); // no key at all (the hint "AGE-SECRET-KEY-1…" is fine)
    expect(log).not.toContain("[Redacted]"); // nothing even tried to log it
    for (const f of readdirSync(root).filter((n) => n.startsWith("ledger.db"))) expect(readFileSync(join(root, f)).includes(secret)).toBe(false);
    expect(JSON.stringify(chat.calls)).not.toMatch(/AGE-SECRET-KEY-1[0-9A-Z]{10}/);
    expect(log).not.toContain(secret.slice(16, 50)); // the mangled key's body either
  });
});

describe("verify --full where it means nothing", () => {
  it("a driver without a stored stream refuses it in one line, and plain verify still runs", async () => {
    const backend = fakeBackend();
    backend.data.set("f1", "hello");
    const dir = join(root, "fake");
    mkdirSync(dir);
    const fake = await testApp(dir, { servers: { f1: { driver: "fake" } } }, undefined, undefined, { drivers: [fakeDriverModule(backend)] });
    try {
      expect((await done(await fake.run("create f1 s1"))).tone).toBe("success");
      expect((await fake.run("verify f1/s1 --full")).title).toBe(
        "f1 (fake) cannot verify --full (it keeps no stored stream to decrypt and decompress): run verify without --full",
      );
      expect((await done(await fake.run("verify f1/s1"))).tone).toBe("success");
    } finally {
      await fake.app.close();
    }
  });
});
