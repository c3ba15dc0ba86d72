import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { BUILTIN_DRIVERS } from "../../src/drivers/index.ts";
import { fakeBackend, fakeDriverModule } from "../helpers/fake-driver.ts";
import { ageKey } from "../helpers/age-identity.ts";
import { testApp } from "../helpers/test-app.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// storage.encryption and `sensitive:` at start-up (DESIGN.md §3): each mistake stops the bot with one line that
// names the file and the key, a fixture or a real key file per case; and `register` refuses the same thing in
// the same words. No message quotes an identity file's content.

const fixture = (name: string) => resolve(import.meta.dirname, "../fixtures/config", name);
const root = tempDir("snapbot-enc-cfg-");
let n = 0;

function failure(file: string, modules = BUILTIN_DRIVERS): string {
  try {
    loadConfig({ SNAPBOT_CONFIG: file }, root, modules);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).not.toContain("\n");
    return (e as Error).message;
  }
  throw new Error(`${file} was accepted`);
}

/** A config in its own folder naming `identity` (relative to that folder) as the identity file. */
function withIdentity(identity: string): { dir: string; file: string } {
  const dir = join(root, `c${++n}`);
  mkdirSync(dir);
  const file = join(dir, "snapbot.yml");
  const recipient = "age1yxlfyg96sj9e7xljhtd28hl5mgaw87d23va9j0xh05ttxd33fynqk0gnxk";
  writeFileSync(file, `storage:\n  encryption: { recipients: [${recipient}], identity_file: ${identity} }\nservers:\n  files-1: { driver: archive, paths: [/etc] }\n`);
  return { dir, file };
}

describe("start-up checks of storage.encryption and sensitive:", () => {
  it("a sensitive server without recipients: one line naming the key", () => {
    expect(failure(fixture("sensitive-no-recipients.yml"))).toBe(
      `${fixture("sensitive-no-recipients.yml")}: servers.vault-1 is sensitive: set storage.encryption.recipients (age1…)`,
    );
  });

  it("a recipient that is not an age key, or whose checksum does not match", () => {
    expect(failure(fixture("bad-recipient.yml"))).toMatch(
      /bad-recipient\.yml: storage\.encryption\.recipients\.0: "ssh-ed25519 AAAA[^"]*" is not an age X25519 recipient: expected age1 followed by 58 letters and digits, as age-keygen prints it/,
    );
    expect(failure(fixture("recipient-checksum.yml"))).toMatch(
      /recipient-checksum\.yml: storage\.encryption\.recipients\.0: "age1yxlf.*gnxq" is not a valid age recipient \(its checksum does not match\)/,
    );
  });

  it("a sensitive server with a recipient loads; plain servers stay plain", () => {
    const c = loadConfig({ SNAPBOT_CONFIG: fixture("sensitive.yml") }, root);
    expect(c.servers["vault-1"]).toMatchObject({ sensitive: true });
    expect(c.servers["files-1"]?.sensitive).toBeUndefined();
    expect(c.storage.encryption).toEqual({ recipients: ["age1yxlfyg96sj9e7xljhtd28hl5mgaw87d23va9j0xh05ttxd33fynqk0gnxk"] });
  });

  it("a driver that is sensitive by default needs recipients unless the server says sensitive: false", () => {
    const sensitiveFake = { ...fakeDriverModule(fakeBackend()), features: { sensitive: true } };
    const dir = join(root, `c${++n}`);
    mkdirSync(dir);
    const file = join(dir, "snapbot.yml");
    writeFileSync(file, "servers:\n  app-1: { driver: fake }\n");
    expect(failure(file, [...BUILTIN_DRIVERS, sensitiveFake])).toBe(`${file}: servers.app-1 is sensitive: set storage.encryption.recipients (age1…)`);
    writeFileSync(file, "servers:\n  app-1: { driver: fake, sensitive: false }\n");
    expect(Object.keys(loadConfig({ SNAPBOT_CONFIG: file }, dir, [...BUILTIN_DRIVERS, sensitiveFake]).servers)).toEqual(["app-1"]);
  });

  it("identity_file: resolved against the config's folder and loaded when it is a 0600 age identity file", async () => {
    const { dir, file } = withIdentity("keys/age.key");
    mkdirSync(join(dir, "keys"));
    await ageKey(join(dir, "keys"), "age");
    expect(loadConfig({ SNAPBOT_CONFIG: file }, root).storage.encryption?.identity_file).toBe(join(dir, "keys", "age.key"));
  });

  it("identity_file missing, readable by others, a folder: one line each, saying what to do", async () => {
    const missing = withIdentity("none.key");
    expect(failure(missing.file)).toBe(
      `${missing.file}: storage.encryption.identity_file: ${missing.dir}/none.key does not exist: create it with age-keygen -o ${missing.dir}/none.key (then chmod 600 it), or fix the path`,
    );
    const open = withIdentity("open.key");
    await ageKey(open.dir, "open", 0o644);
    chmodSync(join(open.dir, "open.key"), 0o644); // the umask may have narrowed it
    expect(failure(open.file)).toBe(
      `${open.file}: storage.encryption.identity_file: ${open.dir}/open.key is readable by others (mode 0644): it must be 0600 (chmod 600 ${open.dir}/open.key)`,
    );
    const folder = withIdentity("keys");
    mkdirSync(join(folder.dir, "keys"));
    expect(failure(folder.file)).toMatch(/storage\.encryption\.identity_file: .*\/keys is not a file: point it at the age identity file/);
  });

  it("identity_file that holds no identity, or a damaged one: refused without quoting the file", async () => {
    const empty = withIdentity("empty.key");
    writeFileSync(join(empty.dir, "empty.key"), "# created: 2026-01-01\n\n", { mode: 0o600 });
    expect(failure(empty.file)).toMatch(/empty\.key holds no age identity \(AGE-SECRET-KEY-1…\): write one with age-keygen -o /);
    const damaged = withIdentity("damaged.key");
    const key = await ageKey(damaged.dir, "damaged");
    const typo = `${key.identity.slice(0, 30)}${key.identity[30] === "X" ? "Y" : "X"}${key.identity.slice(31)}`; // never the same letter
    writeFileSync(key.file, `# public key: ${key.recipient}\n${typo}\n`, { mode: 0o600 });
    const msg = failure(damaged.file);
    expect(msg).toMatch(/damaged\.key line 2 is not an age X25519 identity \(AGE-SECRET-KEY-1…\): it must be a file age-keygen wrote$/);
    expect(msg).not.toContain(typo.slice(16));
  });
});

describe("register refuses a sensitive server the way start-up does", () => {
  it("sensitive=true without recipients is one line; with them it registers", async () => {
    const dir = join(root, `c${++n}`);
    mkdirSync(dir);
    const plain = await testApp(dir, { roles: { admins: ["U0ADMIN"], approvers: [], operators: ["*"] }, servers: {} });
    try {
      expect((await plain.run("register vault-2 archive paths=/etc sensitive=true", "U0ADMIN")).title).toBe(
        "register vault-2 archive: servers.vault-2 is sensitive: set storage.encryption.recipients (age1…)",
      );
      expect(await plain.app.ledger.servers.get("vault-2")).toBeFalsy();
      expect((await plain.run("register vault-2 archive paths=/etc sensitive=maybe", "U0ADMIN")).title).toMatch(/^register vault-2 archive: sensitive: expected true or false/);
    } finally {
      await plain.app.close();
    }
    const keyed = await testApp(join(dir, "k"), {
      roles: { admins: ["U0ADMIN"], approvers: [], operators: ["*"] },
      storage: { encryption: { recipients: ["age1yxlfyg96sj9e7xljhtd28hl5mgaw87d23va9j0xh05ttxd33fynqk0gnxk"] } },
      servers: {},
    });
    try {
      expect((await keyed.run("register vault-2 archive paths=/etc sensitive=true", "U0ADMIN")).title).toMatch(/^vault-2 registered \(archive\)/);
      expect((await keyed.app.ledger.servers.get("vault-2"))?.settings).toMatchObject({ sensitive: true });
    } finally {
      await keyed.app.close();
    }
  });
});
