import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { generateX25519Identity, identityToRecipient } from "age-encryption";
import { describe, expect, it } from "vitest";
import { readIdentityFile, recipientProblem } from "../../src/storage/encryption/age-keys.ts";
import { ageKey } from "../helpers/age-identity.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// The start-up check of age keys (shape + bech32 checksum, without loading the cipher library), pinned against
// keys the reference library and the age CLI make: every real key passes, every one-character typo fails.
const dir = tempDir("snapbot-age-keys-");
const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

describe("age key checks", () => {
  it("accepts every recipient and identity age-encryption makes", async () => {
    for (let i = 0; i < 25; i++) {
      const key = await ageKey(dir, `k${i}`);
      expect(recipientProblem(key.recipient)).toBeNull();
      expect(readIdentityFile(key.file)).toEqual([key.identity]);
    }
  });

  it.runIf(existsSync("/usr/bin/age-keygen") || process.env.CI === "true")("accepts what the age CLI writes", () => {
    const file = join(dir, "cli.key");
    execFileSync("age-keygen", ["-o", file], { stdio: "ignore" });
    expect(readIdentityFile(file)).toHaveLength(1);
    expect(recipientProblem(execFileSync("age-keygen", ["-y", file], { encoding: "utf8" }).trim())).toBeNull();
  });

  it("refuses a recipient with any one character changed (the checksum), and any other shape", async () => {
    const recipient = await identityToRecipient(await generateX25519Identity());
    for (let at = 4; at < recipient.length; at++) {
      const other = CHARSET[(CHARSET.indexOf(recipient[at]!) + 7) % 32]!;
      const typo = recipient.slice(0, at) + other + recipient.slice(at + 1);
      expect(recipientProblem(typo), typo).toMatch(/is not a valid age recipient \(its checksum does not match\)/);
    }
    for (const bad of [recipient.toUpperCase(), recipient.slice(0, -1), `${recipient}q`, "age1pq1abc", "ssh-ed25519 AAAA"])
      expect(recipientProblem(bad)).toMatch(/is not an age X25519 recipient/);
  });

  it("refuses an identity file with a typo in its key, naming the line and never the key", async () => {
    const key = await ageKey(dir, "typo");
    const at = 40;
    const typo = key.identity.slice(0, at) + CHARSET.toUpperCase()[(CHARSET.toUpperCase().indexOf(key.identity[at]!) + 3) % 32] + key.identity.slice(at + 1);
    const text = readFileSync(key.file, "utf8").replace(key.identity, typo);
    const file = join(dir, "typo2.key");
    execFileSync("bash", ["-c", 'umask 077; cat > "$1"', "_", file], { input: text });
    expect(() => readIdentityFile(file)).toThrow(`${file} line 3 is not an age X25519 identity (AGE-SECRET-KEY-1…): it must be a file age-keygen wrote`);
  });
});
