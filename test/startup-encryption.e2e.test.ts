import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { runScript } from "./helpers/bot-process.ts";
import { ageKey } from "./helpers/age-identity.ts";
import { tempDir } from "./helpers/temp-dir.ts";

// The real src/main.ts (a child process) stops at start-up, exit 2 and one line, for a sensitive server with no
// recipients and for an identity file others can read; with both right it starts and answers.
const root = tempDir("snapbot-startup-age-");
const fixture = (name: string) => resolve(import.meta.dirname, "fixtures/config", name);
let n = 0;

async function start(env: Record<string, string>) {
  const cwd = join(root, `w${++n}`);
  mkdirSync(cwd);
  return runScript(cwd, ["/snapshot servers"], env);
}

describe("src/main.ts and storage.encryption", () => {
  it("a sensitive server without recipients, an identity file of mode 0644: exit 2, one line naming the key", async () => {
    const none = await start({ SNAPBOT_CONFIG: fixture("sensitive-no-recipients.yml") });
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(`snapbot: ${fixture("sensitive-no-recipients.yml")}: servers.vault-1 is sensitive: set storage.encryption.recipients (age1…)\n`);
    const key = await ageKey(root, "open", 0o644);
    const config = join(root, "open.yml");
    writeFileSync(config, `storage:\n  encryption: { recipients: [${key.recipient}], identity_file: open.key }\nservers:\n  vault-1: { driver: archive, paths: [/etc], sensitive: true }\n`);
    const open = await start({ SNAPBOT_CONFIG: config });
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/^snapbot: .*open\.yml: storage\.encryption\.identity_file: .*\/open\.key is readable by others \(mode 0644\): it must be 0600/);
    expect(open.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    expect(open.stderr).not.toContain(key.identity);
    chmodSync(key.file, 0o600);
    const fine = await start({ SNAPBOT_CONFIG: config });
    expect(fine.code, fine.stderr).toBe(0);
    expect(fine.stdout).toMatch(/vault-1/);
    expect(fine.stdout + fine.stderr).not.toContain(key.identity);
  }, 60_000);
});
