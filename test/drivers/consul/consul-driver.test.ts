import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/log/logger.ts";
import type { Reply } from "../../../src/reply.ts";
import { testApp } from "../../helpers/test-app.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { ageKey, alterAndRehash, filesContaining, type AgeKey } from "../../helpers/age-identity.ts";
import { startConsulServer, type ConsulServer } from "../../helpers/consul-server.ts";

// driver: consul through the bot (commands, engine, SQLite ledger, real age keys) against two local Consul
// servers speaking the documented API with real archives: create and show (= consul snapshot inspect), every bad
// archive and fault never `done` and leaving nothing stored, the token's 403, stale never/auto, restore with
// approval (version mismatch refused, then forced), restore --to another cluster, and encryption at rest.

const TOKEN = "mgmt-7f3c9a1e-token";
const MARKER = "CONSUL-PLAINTEXT-MARKER-91ab";
const root = tempDir("snapbot-consul-");
const chat = recordingChat();
const logLines: string[] = [];
let dc1: ConsulServer;
let dc2: ConsulServer;
let key: AgeKey;
let t: Awaited<ReturnType<typeof testApp>>;

const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};
const text = (r: Reply) => [r.title, ...(r.lines ?? []), ...(r.fields ?? []).map((f) => f.join(": "))].join("\n");
const approvalId = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? NaN);
const folder = (server: string, snap: string) => join(root, "snaps", server, snap);
const stateOf = async (server: string, name: string) =>
  (await t.app.ledger.snapshots.list((await t.app.ledger.servers.get(server))!.id, { all: true, limit: 100, offset: 0 })).rows.find((r) => r.name === name)?.state;
const approved = async (command: string) => {
  const request = await t.run(command, "U0OP");
  if (!Number.isFinite(approvalId(request))) return request;
  return done(await t.run(`approve ${approvalId(request)}`, "U0ALICE"));
};

beforeAll(async () => {
  key = await ageKey(root, "snapbot");
  dc1 = await startConsulServer({ token: TOKEN, version: "1.17.2", stateSize: 200_000, marker: MARKER });
  dc2 = await startConsulServer({ token: TOKEN, version: "1.17.2", datacenter: "dc2", stateSize: 10_000, marker: "dc2-own-state" });
  const consul = (url: string, extra: Record<string, unknown> = {}) => ({ driver: "consul", address: url, token_env: "CONSUL_TOKEN", ...extra });
  const file = {
    roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
    storage: { path: "snaps", encryption: { recipients: [key.recipient], identity_file: key.file } },
    servers: {
      "consul-dc1": consul(dc1.url, { datacenter: "dc1" }), // sensitive by default
      "consul-plain": consul(dc1.url, { sensitive: false }),
      "consul-auto": consul(dc1.url, { stale: "auto", sensitive: false }),
      "consul-notoken": { driver: "consul", address: dc1.url, sensitive: false },
      "consul-dc2": consul(dc2.url, { sensitive: false }),
    },
  };
  const destination = new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) });
  const log = createLogger({ level: "debug", destination: destination as never });
  t = await testApp(root, file, undefined, chat.port, { env: { CONSUL_TOKEN: TOKEN }, log });
});
afterAll(async () => {
  await t?.app.close();
  await Promise.all([dc1?.close(), dc2?.close()]);
});
beforeEach(() => {
  dc1.mode = "leader";
  dc1.version = "1.17.2";
});

describe("consul create and show", () => {
  it("stores Consul's archive, encrypted by default, and show prints what consul snapshot inspect does", async () => {
    const reply = await done(await t.run("create consul-dc1 s1", "U0OP"));
    expect(reply.tone).toBe("success");
    expect(dc1.requests.filter((r) => r.url.startsWith("/v1/snapshot")).every((r) => r.token === TOKEN)).toBe(true);
    expect(dc1.requests.some((r) => r.url === "/v1/snapshot?dc=dc1")).toBe(true);
    const m = JSON.parse(readFileSync(join(folder("consul-dc1", "s1"), "manifest.json"), "utf8"));
    expect(m).toMatchObject({ format: "snapbot-consul/1", consul: { consul_version: "1.17.2", x_consul_index: 1042, stale: false, meta: { index: 1042, term: 3, version: 1, size: 200_000 } } });
    expect(m.encryption.recipients).toEqual([key.recipient]);
    expect(filesContaining(join(root, "snaps", "consul-dc1"), MARKER)).toEqual([]);
    const show = await t.run("show consul-dc1/s1");
    expect(show.fields).toEqual(expect.arrayContaining([["ID", m.consul.meta.id], ["Index", "1042"], ["Term", "3"], ["Version", "1"], ["Consul version", "1.17.2"]]));
    const timeless = (r: Reply) => (r.fields ?? []).filter(([, v]) => !/ago\)/.test(v));
    expect(timeless(await t.run("inspect consul-dc1/s1"))).toEqual(timeless(show));
    const full = await t.run("verify consul-dc1/s1 --full", "U0OP");
    const verified = full.follow ? await full.follow.done : full;
    expect(verified.tone).toBe("success");
    expect(text(verified)).toMatch(/decrypted \(age's MAC checked on every chunk\) and checked as Consul's CLI does: .*Index 1042, Term 3/);
  });

  it("a plain server's parts hold the state's bytes (the control for the encrypted one), and the token is shown nowhere", async () => {
    expect((await done(await t.run("create consul-plain s1", "U0OP"))).tone).toBe("success");
    expect(filesContaining(folder("consul-plain", "s1"), MARKER).length).toBe(0); // gzip: the marker is compressed…
    const parts = readdirSync(join(folder("consul-plain", "s1"), ".parts"));
    expect(parts.length).toBeGreaterThan(0);
    const { gunzipSync } = await import("node:zlib");
    const archive = Buffer.concat(parts.sort().map((p) => readFileSync(join(folder("consul-plain", "s1"), ".parts", p))));
    expect(gunzipSync(archive).includes(MARKER)).toBe(true); // …and there once gunzipped: Consul's archive byte for byte
    expect(filesContaining(root, TOKEN)).toEqual([]); // not in the ledger, the manifests, anywhere
    expect(logLines.join("")).not.toContain(TOKEN);
    expect(JSON.stringify(chat.calls)).not.toContain(TOKEN);
  });
});

describe("consul verify --full", () => {
  it("finds an archive altered behind snapbot's back with its part hashes rewritten, which plain verify cannot", async () => {
    expect((await done(await t.run("create consul-plain altered", "U0OP"))).tone).toBe("success");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(folder("consul-plain", "altered"), "README.txt"), ""); // the helper rewrites README.txt too
    alterAndRehash(folder("consul-plain", "altered"), 0, 2000);
    expect((await done(await t.run("verify consul-plain/altered", "U0OP"))).tone).toBe("success");
    const full = await done(await t.run("verify consul-plain/altered --full", "U0OP"));
    expect(full.tone).toBe("error");
    expect(text(full)).toMatch(/not a valid Consul archive/);
    expect(await stateOf("consul-plain", "altered")).toBe("broken");
  });
});

describe("consul create refuses what Consul's CLI would refuse, and keeps nothing", () => {
  it.each([
    ["wrong-hash", /hash check failed for "state\.bin"/],
    ["extra-file", /unexpected file "extra\.txt"/],
    ["truncated-gzip", /failed to decompress snapshot/],
    ["no-sums", /no SHA256SUMS/],
    ["cut", /connection to Consul broke after \d+ bytes/],
  ] as const)("%s: failed, never done, no folder left", async (mode, why) => {
    dc1.mode = mode;
    const reply = await done(await t.run(`create consul-plain bad-${mode}`, "U0OP"));
    expect(reply.tone).toBe("error");
    expect(text(reply)).toMatch(why);
    expect(await stateOf("consul-plain", `bad-${mode}`)).toBe("failed");
    expect(existsSync(folder("consul-plain", `bad-${mode}`))).toBe(false);
  });

  it("a 403 says a management token is needed and names the variable; no token at all says so", async () => {
    dc1.mode = "forbidden";
    const reply = await done(await t.run("create consul-plain denied", "U0OP"));
    expect(text(reply)).toMatch(/Consul refused the token \(403 Permission denied\): snapshots need a management token; set CONSUL_TOKEN to a management token/);
    dc1.mode = "leader";
    const none = await done(await t.run("create consul-notoken denied", "U0OP"));
    expect(text(none)).toMatch(/refused no token \(token_env is not set\) \(403 ACL not found\)/);
    expect(existsSync(folder("consul-plain", "denied"))).toBe(false);
  });

  it("Consul down: a clear line, nothing stored", async () => {
    const down = await startConsulServer();
    const url = down.url;
    await down.close();
    const r = await t.run(`register consul-gone consul address=${url} sensitive=false`, "U0ADMIN");
    if (r.tone === "error" && /cannot reach Consul/.test(text(r))) return; // register probes: refused up front, which is as good
    const reply = await done(await t.run("create consul-gone s1", "U0OP"));
    expect(text(reply)).toMatch(/cannot reach Consul at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});

describe("consul stale", () => {
  it("stale: never and no leader: refused with what to set; stale: auto takes a stale snapshot and says so", async () => {
    dc1.mode = "no-leader";
    dc1.lastContactMs = 4200;
    const never = await done(await t.run("create consul-plain leaderless", "U0OP"));
    expect(text(never)).toMatch(/no cluster leader.*stale: auto/i);
    expect(existsSync(folder("consul-plain", "leaderless"))).toBe(false);
    const auto = await done(await t.run("create consul-auto stale1", "U0OP"));
    expect(auto.tone).toBe("success");
    expect(text(auto)).toMatch(/stale: taken from a follower \(last contact with a leader 4200 ms before\)/);
    expect(dc1.requests.at(-1)?.url).toBe("/v1/snapshot?stale");
    const m = JSON.parse(readFileSync(join(folder("consul-auto", "stale1"), "manifest.json"), "utf8"));
    expect(m.consul).toMatchObject({ stale: true, last_contact_ms: 4200 });
    expect(text(await t.run("show consul-auto/stale1"))).toMatch(/consistency: stale/);
  });

  it("stale: auto with a leader takes a consistent snapshot; when the leader request fails it takes a stale one", async () => {
    const withLeader = await done(await t.run("create consul-auto fresh", "U0OP"));
    expect(text(withLeader)).not.toMatch(/stale/);
    expect(dc1.requests.at(-1)?.url).toBe("/v1/snapshot");
    dc1.mode = "leader-down";
    expect((await done(await t.run("create consul-auto lost", "U0OP"))).tone).toBe("success");
    expect(dc1.requests.at(-1)?.url).toBe("/v1/snapshot?stale");
    // The leader goes between status/leader and the snapshot: auto asks again for a stale one, and says so.
    dc1.mode = "leader-lost";
    const between = await done(await t.run("create consul-auto between", "U0OP"));
    expect(between.tone).toBe("success");
    expect(text(between)).toMatch(/stale: taken from a follower/);
    expect(dc1.requests.slice(-2).map((r) => r.url)).toEqual(["/v1/snapshot", "/v1/snapshot?stale"]);
    const never = await done(await t.run("create consul-plain between", "U0OP"));
    expect(text(never)).toMatch(/no cluster leader/i);
  });
});

describe("consul restore", () => {
  it("needs approval, says it is disruptive and not selective, and puts the state back", async () => {
    const request = await t.run("restore consul-plain/s1", "U0OP");
    expect(text(request)).toMatch(/disruptive/);
    expect(text(request)).toMatch(/cannot restore only part/);
    expect(dc1.restored).toBeNull();
    const final = await done(await t.run(`approve ${approvalId(request)}`, "U0ALICE"));
    expect(final.tone).toBe("success");
    expect(dc1.restored?.length).toBe(200_000);
    expect(dc1.restored?.subarray(0, MARKER.length).toString()).toBe(MARKER);
  });

  it("an encrypted snapshot is decrypted and restored", async () => {
    dc1.setStateSize(5000, "changed-since");
    expect((await approved("restore consul-dc1/s1")).tone).toBe("success");
    expect(dc1.restored?.subarray(0, MARKER.length).toString()).toBe(MARKER);
  });

  it("onto a cluster of another Consul version: refused with --force to type, then forced", async () => {
    dc1.version = "1.18.0";
    dc1.setStateSize(5000, "changed-again");
    const refused = await t.run("restore consul-plain/s1", "U0OP");
    expect(refused.tone).toBe("error");
    expect(text(refused)).toMatch(/taken from Consul 1\.17\.2; consul-plain runs Consul 1\.18\.0: restore refused; type restore consul-plain\/s1 --force/);
    expect(dc1.restored).toBeNull();
    const forced = await approved("restore consul-plain/s1 --force");
    expect(forced.tone).toBe("success");
    expect(text(forced)).toMatch(/--force: restored anyway/);
    expect(dc1.restored?.subarray(0, MARKER.length).toString()).toBe(MARKER);
  });

  it("restore --to consul-dc2 bootstraps the other cluster from dc1's snapshot", async () => {
    const final = await approved("restore consul-plain/s1 --to consul-dc2");
    expect(final.tone).toBe("success");
    expect(dc2.restored?.subarray(0, MARKER.length).toString()).toBe(MARKER);
  });

  it("restore --target is refused: a cluster is not a folder", async () => {
    expect(text(await t.run("restore consul-plain/s1 --target /tmp/x", "U0OP"))).toMatch(/not a folder: drop --target/);
  });

  it("a cluster that refuses the PUT (no leader) fails the restore with Consul's line; a broken snapshot is never sent", async () => {
    dc1.mode = "no-leader";
    const refused = await approved("restore consul-plain/s1");
    expect(refused.tone).toBe("error");
    expect(text(refused)).toMatch(/no cluster leader/i);
    dc1.mode = "leader";
    const part = join(folder("consul-plain", "s1"), ".parts", readdirSync(join(folder("consul-plain", "s1"), ".parts")).sort()[0]!);
    const { writeFileSync } = await import("node:fs");
    const bytes = readFileSync(part);
    bytes[100]! ^= 0xff;
    writeFileSync(part, bytes);
    const puts = () => dc1.requests.filter((r) => r.method === "PUT").length;
    const before = puts();
    const broken = await approved("restore consul-plain/s1");
    expect(broken.tone).toBe("error");
    expect(text(broken)).toMatch(/is broken and will not be restored/);
    expect(puts()).toBe(before);
  });
});
