import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { beforeAll, describe, expect, it } from "vitest";
import { ageDecrypter, ageEncrypter } from "../../src/storage/encryption/age-stream.ts";
import { CHUNK, TAG } from "../../src/storage/encryption/age-payload.ts";
import { BackendError, UserError } from "../../src/errors.ts";
import { rejection } from "../helpers/outcomes.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// age files as Node streams (src/storage/encryption/): what we write is age-encryption.org/v1 to the byte —
// the reference TypeScript library and the age CLI decrypt it, we decrypt theirs — and every way a stream
// can be wrong (another key, an altered byte, a cut at a chunk boundary, not age at all) is an error, never
// output. Keys are real X25519 keys made here.

const HWM = 1024 * 1024;
const dir = tempDir("snapbot-age-");
// The age CLI is the independent reader (apt-get install -y age; .ci/run installs it): in CI it must be there.
const ageCli = existsSync("/usr/bin/age") || process.env.CI === "true";
let identity: string;
let recipient: string;

beforeAll(async () => {
  identity = await generateX25519Identity();
  recipient = await identityToRecipient(identity);
});

/** Feeds `data` in pieces of `piece` bytes (the boundaries a pipe would give). */
function source(data: Buffer, piece = 100_003): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += piece) pieces.push(data.subarray(at, at + piece));
  return Readable.from(pieces.length ? pieces : [], { objectMode: false });
}

async function through(input: Readable, t: Transform): Promise<Buffer> {
  const out: Buffer[] = [];
  t.on("data", (c: Buffer) => out.push(c));
  await pipeline(input, t);
  return Buffer.concat(out);
}

async function encrypt(data: Buffer, recipients = [recipient], piece?: number): Promise<Buffer> {
  return through(source(data, piece), (await ageEncrypter(recipients, HWM)).stream);
}

async function decrypt(data: Buffer, identities = [identity], piece?: number): Promise<Buffer> {
  return through(source(data, piece), ageDecrypter(identities, HWM).stream);
}

describe("age streams round-trip", () => {
  // Empty, within one chunk, exactly one and two chunks (the last chunk is full, not an extra empty one), around them.
  const sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 5 * CHUNK + 12345];
  for (const size of sizes) {
    it(`${size} bytes: decrypted back, ciphertext is header + nonce + 16 bytes of tag per chunk`, async () => {
      const plain = randomBytes(size);
      const sealed = await encrypt(plain);
      const chunks = Math.max(1, Math.ceil(size / CHUNK));
      const header = sealed.indexOf("\n--- ") + 1;
      const headerEnd = sealed.indexOf(0x0a, header) + 1;
      expect(sealed.length).toBe(headerEnd + 16 + size + chunks * TAG);
      expect((await decrypt(sealed)).equals(plain)).toBe(true);
    });
  }

  it("input cut at every awkward boundary (1 byte at a time through the header) still decrypts", async () => {
    const plain = randomBytes(3 * CHUNK + 7);
    const sealed = await encrypt(plain, [recipient], 4093);
    expect((await decrypt(sealed, [identity], 1)).length).toBe(plain.length);
    expect((await decrypt(sealed, [identity], CHUNK + TAG)).equals(plain)).toBe(true);
  }, 30_000);

  it("several recipients: each one's identity alone decrypts", async () => {
    const other = await generateX25519Identity();
    const sealed = await encrypt(Buffer.from("two keys"), [recipient, await identityToRecipient(other)]);
    expect((await decrypt(sealed, [identity])).toString()).toBe("two keys");
    expect((await decrypt(sealed, [other])).toString()).toBe("two keys");
  });

  it("the reference library decrypts ours, and we decrypt the library's", async () => {
    const plain = randomBytes(2 * CHUNK + 99);
    const d = new Decrypter();
    d.addIdentity(identity);
    expect(Buffer.from(await d.decrypt(new Uint8Array(await encrypt(plain)))).equals(plain)).toBe(true);
    const e = new Encrypter();
    e.addRecipient(recipient);
    expect((await decrypt(Buffer.from(await e.encrypt(new Uint8Array(plain))))).equals(plain)).toBe(true);
  });

  it.runIf(ageCli)("the age CLI decrypts ours with its own key file, and we decrypt what it encrypted", async () => {
    const key = join(dir, "cli.key");
    execFileSync("age-keygen", ["-o", key], { stdio: "ignore" });
    const cliRecipient = execFileSync("age-keygen", ["-y", key], { encoding: "utf8" }).trim();
    const cliIdentity = readFileSync(key, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"))!;
    const plain = randomBytes(4 * CHUNK);
    writeFileSync(join(dir, "ours.age"), await encrypt(plain, [cliRecipient]));
    expect(execFileSync("age", ["-d", "-i", key, join(dir, "ours.age")]).equals(plain)).toBe(true);
    writeFileSync(join(dir, "plain"), plain);
    execFileSync("age", ["-r", cliRecipient, "-o", join(dir, "theirs.age"), join(dir, "plain")]);
    expect((await decrypt(readFileSync(join(dir, "theirs.age")), [cliIdentity])).equals(plain)).toBe(true);
  });
});

describe("age streams refuse what does not decrypt", () => {
  it("another identity: identity_mismatch, before any plaintext", async () => {
    const sealed = await encrypt(Buffer.from("secret"));
    const e = await rejection(decrypt(sealed, [await generateX25519Identity()]), UserError);
    expect(e).toMatchObject({ code: "identity_mismatch" });
  });

  it("one payload byte altered: age_mac_failed at that chunk, and nothing of that chunk comes out", async () => {
    const plain = randomBytes(3 * CHUNK);
    const sealed = await encrypt(plain);
    const payload = sealed.length - 3 * (CHUNK + TAG);
    sealed[payload + CHUNK + TAG + 5]! ^= 0x01; // in chunk 1
    const out: Buffer[] = [];
    const dec = ageDecrypter([identity], HWM).stream;
    dec.on("data", (c: Buffer) => out.push(c));
    const e = await rejection(pipeline(source(sealed), dec), BackendError);
    expect(e).toMatchObject({ code: "age_mac_failed" });
    expect(e.message).toMatch(/chunk 1 .*it was altered/);
    expect(Buffer.concat(out).length).toBeLessThanOrEqual(CHUNK); // chunk 0 at most
  });

  it("cut at a chunk boundary (whole chunks, tags intact): the last one fails as a last chunk", async () => {
    const sealed = await encrypt(randomBytes(3 * CHUNK));
    const cut = sealed.subarray(0, sealed.length - (CHUNK + TAG));
    const e = await rejection(decrypt(cut), BackendError);
    expect(e).toMatchObject({ code: "age_mac_failed" });
    expect(e.message).toMatch(/altered, or cut short/);
  });

  it("cut inside a tag, or inside the header: age_truncated", async () => {
    const sealed = await encrypt(randomBytes(CHUNK + 10));
    const header = sealed.indexOf(0x0a, sealed.indexOf("\n--- ") + 1) + 1;
    expect(await rejection(decrypt(sealed.subarray(0, header + 16 + 8)), BackendError)).toMatchObject({ code: "age_truncated" });
    expect(await rejection(decrypt(sealed.subarray(0, 30)), BackendError)).toMatchObject({ code: "age_truncated" });
  });

  it("an altered header stanza: age_header_corrupt (its MAC), not a wrong-key message", async () => {
    const sealed = await encrypt(Buffer.from("secret"));
    const mac = sealed.indexOf("\n--- ");
    sealed[mac + 10] = sealed[mac + 10] === 0x41 ? 0x42 : 0x41; // a character of the MAC
    expect(await rejection(decrypt(sealed), BackendError)).toMatchObject({ code: "age_header_corrupt" });
  });

  it("not age at all (a zstd stream, a header that never ends): age_header_corrupt", async () => {
    const zstd = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, ...randomBytes(100)]);
    expect(await rejection(decrypt(zstd), BackendError)).toMatchObject({ code: "age_header_corrupt" });
    const endless = Buffer.concat([Buffer.from("age-encryption.org/v1\n-> X25519 "), Buffer.alloc(200_000, 0x41)]);
    const e = await rejection(decrypt(endless), BackendError);
    expect(e).toMatchObject({ code: "age_header_corrupt" });
    expect(e.message).toMatch(/no header end/);
  });
});
