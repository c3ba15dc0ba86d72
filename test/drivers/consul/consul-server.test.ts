import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startConsulServer, type ConsulServer } from "../../helpers/consul-server.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// The local Consul server is only worth its tests if its archives are Consul's: checked here with the system's
// tar and sha256sum (not with snapbot's reader, which these archives test), and its API answers as documented.

const TOKEN = "b1gs3cr3t-management";
let consul: ConsulServer;
const dir = tempDir("consul-server-");
const get = (path: string, token = TOKEN) => fetch(consul.url + path, { headers: { "X-Consul-Token": token } });

beforeAll(async () => {
  consul = await startConsulServer({ token: TOKEN, version: "1.17.2", stateSize: 300_000, marker: "MARKER-xyz" });
});
afterAll(() => consul.close());
beforeEach(() => {
  consul.mode = "leader";
  consul.setStateSize(300_000, "MARKER-xyz");
});

async function save(path = "/v1/snapshot"): Promise<{ res: Response; file: string }> {
  const res = await get(path);
  const file = join(dir, `snap-${Math.random().toString(36).slice(2)}.tgz`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return { res, file };
}

describe("the local Consul server's archives", () => {
  it("are a gzip tar of exactly meta.json, state.bin and SHA256SUMS, whose sums sha256sum accepts", async () => {
    const { res, file } = await save();
    expect(res.status).toBe(200);
    expect(execFileSync("tar", ["-tzf", file], { encoding: "utf8" }).split("\n").filter(Boolean)).toEqual(["meta.json", "state.bin", "SHA256SUMS"]);
    const out = join(dir, "x");
    execFileSync("mkdir", ["-p", out]);
    execFileSync("tar", ["-xzf", file, "-C", out]);
    expect(execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, encoding: "utf8" })).toMatch(/state\.bin: OK/);
    const meta = JSON.parse(readFileSync(join(out, "meta.json"), "utf8"));
    expect(meta).toMatchObject({ Version: 1, Index: 1042, Term: 3, Size: 300_000 });
    expect(meta.ID).toMatch(/^3-1042-\d+$/);
    expect(readFileSync(join(out, "state.bin")).subarray(0, 10).toString()).toBe("MARKER-xyz");
    expect(res.headers.get("x-consul-index")).toBe("1042");
    expect(res.headers.get("x-consul-knownleader")).toBe("true");
  });

  it("break as asked: a wrong hash, an extra file, no SHA256SUMS, a truncated gzip", async () => {
    consul.mode = "wrong-hash";
    const wrong = await save();
    const out = join(dir, "w");
    execFileSync("mkdir", ["-p", out]);
    execFileSync("tar", ["-xzf", wrong.file, "-C", out]);
    expect(() => execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, stdio: "pipe" })).toThrow();
    consul.mode = "extra-file";
    expect(execFileSync("tar", ["-tzf", (await save()).file], { encoding: "utf8" })).toContain("extra.txt");
    consul.mode = "no-sums";
    expect(execFileSync("tar", ["-tzf", (await save()).file], { encoding: "utf8" })).not.toContain("SHA256SUMS");
    consul.mode = "truncated-gzip";
    const cut = await save();
    expect(() => execFileSync("gzip", ["-t", cut.file], { stdio: "pipe" })).toThrow();
  });
});

describe("the local Consul server's API", () => {
  it("answers 403 ACL not found to an unknown token and Permission denied to a token without management rights", async () => {
    const unknown = await get("/v1/snapshot", "nope");
    expect([unknown.status, await unknown.text()]).toEqual([403, "ACL not found"]);
    consul.mode = "forbidden";
    const denied = await get("/v1/snapshot");
    expect([denied.status, await denied.text()]).toEqual([403, "Permission denied"]);
    expect((await get("/v1/agent/self")).status).toBe(200);
  });

  it("without a leader refuses a consistent snapshot and serves a stale one, saying so in its headers", async () => {
    consul.mode = "no-leader";
    const consistent = await get("/v1/snapshot");
    expect([consistent.status, await consistent.text()]).toEqual([500, "No cluster leader"]);
    const stale = await get("/v1/snapshot?stale");
    expect(stale.status).toBe(200);
    expect(stale.headers.get("x-consul-knownleader")).toBe("false");
    expect(Number(stale.headers.get("x-consul-lastcontact"))).toBeGreaterThan(0);
    await stale.arrayBuffer();
    expect(await (await get("/v1/status/leader")).json()).toBe("");
  });

  it("reports its version in agent/self as Consul does", async () => {
    const self = (await (await get("/v1/agent/self")).json()) as { Config: { Version: string }; Member: { Tags: { build: string } } };
    expect(self.Config.Version).toBe("1.17.2");
    expect(self.Member.Tags.build).toMatch(/^1\.17\.2:/);
  });

  it("restores a good archive with PUT and refuses a bad one with Consul's error", async () => {
    const { file } = await save();
    const put = (body: Buffer) => fetch(consul.url + "/v1/snapshot", { method: "PUT", body: new Uint8Array(body), headers: { "X-Consul-Token": TOKEN } });
    expect((await put(readFileSync(file))).status).toBe(200);
    expect(consul.restored?.subarray(0, 10).toString()).toBe("MARKER-xyz");
    expect(consul.index).toBe(1043);
    consul.mode = "extra-file";
    const bad = (await save()).file;
    consul.mode = "leader";
    const refused = await put(readFileSync(bad));
    expect([refused.status, await refused.text()]).toEqual([500, expect.stringContaining('unexpected file "extra.txt"')]);
    const notGzip = await put(gzipSync(Buffer.from("x")).subarray(0, 5));
    expect(notGzip.status).toBe(500);
  });
});
