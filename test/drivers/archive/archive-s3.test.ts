import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Reply } from "../../../src/reply.ts";
import { cephEnabled, freePort, radosgwAdmin, type CephEnv } from "../../helpers/ceph.ts";
import { useCeph } from "../../helpers/ceph-env.ts";
import { recordingChat } from "../../helpers/recording-chat.ts";
import { startTcpProxy, type TcpProxy } from "../../helpers/tcp-proxy.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { waitFor } from "../../helpers/process-tree.ts";
import { adminClient, capturedLog, createBucket, FAST_TUNING, keysIn, S3_ENV, s3Env, uploadsIn } from "../../helpers/s3-target.ts";

// An archive server with `store: offsite` through the bot, on Ceph's RADOS Gateway: where the objects go, what
// storage scan finds there, and the faults users meet — each a clear line, the snapshot `failed` (never `done`),
// no manifest in the bucket, snapshot_failed raised; and the credentials in no log, reply or ledger row.

const MiB = 1024 * 1024;
const ROLES = { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] };
const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};

describe.runIf(cephEnabled())("archive with store: offsite on Ceph RGW, through the bot", () => {
  const root = tempDir("snapbot-archive-s3-");
  const site = join(root, "site");
  let ceph: CephEnv;
  let admin: S3Client;
  let bucket = "";
  let proxy: TcpProxy;
  const logged = capturedLog();
  const texts: string[] = []; // every reply, to check no credential is shown
  let n = 0;

  /** A fresh app whose target `offsite` is `endpoint`/`bucket`, with these env credentials. */
  async function app(o: { endpoint?: string; bucket?: string; env?: Record<string, string>; server?: Record<string, unknown> } = {}) {
    const dir = join(root, `app-${++n}`);
    mkdirSync(dir);
    const chat = recordingChat();
    const s3 = { endpoint: o.endpoint ?? ceph.endpoint, bucket: o.bucket ?? bucket, prefix: "prod/", access_key_env: S3_ENV.access, secret_key_env: S3_ENV.secret, force_path_style: true };
    const file = {
      roles: ROLES,
      alerts: { channel: "C0ALERTS" },
      storage: { path: "snaps", targets: { offsite: { s3 } } },
      servers: { "files-1": { driver: "archive", paths: [site], store: "offsite", part_size: "6MiB", ...o.server } },
    };
    const t = await testApp(dir, file, undefined, chat.port, { env: o.env ?? s3Env(ceph), log: logged.log, s3Tuning: FAST_TUNING });
    const run = async (text: string, user = "U0OP") => {
      const r = await t.run(text, user);
      const final = r.follow ? await r.follow.done : r;
      texts.push(JSON.stringify(r), JSON.stringify(final));
      return final;
    };
    const state = async (name: string) =>
      (await t.app.ledger.snapshots.list((await t.app.ledger.servers.get("files-1"))!.id, { all: true, limit: 100, offset: 0 })).rows.find((r) => r.name === name)?.state;
    return { ...t, chat, run, state, dir };
  }
  /** A create that failed: one clear line, no done row, no manifest in the bucket, snapshot_failed raised. */
  async function failsCleanly(t: Awaited<ReturnType<typeof app>>, name: string, line: RegExp, inBucket = bucket) {
    const final = await t.run(`create files-1 ${name}`);
    expect(final).toMatchObject({ tone: "error", title: expect.stringMatching(new RegExp(`^create files-1/${name} failed`)) });
    expect(final.lines?.[0]).toMatch(line);
    expect(final.lines?.[0]).not.toMatch(/\n|    at /); // one line, no stack
    expect(await t.state(name)).toBe("failed");
    expect(await keysIn(admin, inBucket, `prod/files-1/${name}/`).catch(() => [])).toEqual([]);
    expect(await uploadsIn(admin, inBucket, `prod/files-1/${name}/`).catch(() => [])).toEqual([]);
    const alert = await waitFor("the snapshot_failed alert", () => t.chat.calls.find((c) => c.channel === "C0ALERTS"));
    expect(alert.reply.title).toMatch(new RegExp(`^snapshot_failed: snapshot files-1/${name} failed`));
  }

  beforeAll(async () => {
    ceph = await useCeph();
    admin = adminClient(ceph);
    bucket = await createBucket(admin, "archive");
    proxy = await startTcpProxy({ port: Number(new URL(ceph.endpoint).port) });
    mkdirSync(join(site, "data"), { recursive: true });
    writeFileSync(join(site, "data", "random.bin"), randomBytes(14 * MiB)); // incompressible: 3 parts of 6 MiB, multipart
    writeFileSync(join(site, "app.conf"), "version=1\n");
  }, 180_000);
  afterAll(async () => {
    admin?.destroy();
    await proxy?.close();
  });

  it("create → list → show → verify → restore → delete, every object in the bucket and nothing in storage.path", async () => {
    const t = await app();
    const created = await t.run("create files-1 s1");
    expect(created).toMatchObject({ tone: "success", title: expect.stringMatching(/^files-1\/s1 done: /) });
    const keys = await keysIn(admin, bucket, "prod/files-1/s1/");
    expect(keys).toEqual(["prod/files-1/s1/.parts/part-000000", "prod/files-1/s1/.parts/part-000001", "prod/files-1/s1/.parts/part-000002", "prod/files-1/s1/README.txt", "prod/files-1/s1/manifest.json"]);
    expect(existsSync(join(t.dir, "snaps")) ? readdirSync(join(t.dir, "snaps")) : []).toEqual([]);
    expect(JSON.stringify(await t.run("show files-1/s1"))).toContain(`s3://${bucket}/prod/files-1/s1`);
    expect((await t.run("list files-1")).table?.rows).toContainEqual(expect.arrayContaining(["s1", "done"]));
    expect(await t.run("verify files-1/s1")).toMatchObject({ tone: "success" });

    writeFileSync(join(site, "app.conf"), "version=2\n");
    const request = await t.run("restore files-1/s1");
    const approval = Number(/approve (\d+)/.exec(request.buttons?.[0]?.command ?? "")?.[1]);
    expect(await t.run(`approve ${approval}`, "U0ALICE")).toMatchObject({ tone: "success" });
    expect(readFileSync(join(site, "app.conf"), "utf8")).toBe("version=1\n");

    expect(await t.run("delete files-1/s1")).toMatchObject({ tone: "success" });
    expect(await keysIn(admin, bucket, "prod/files-1/s1/")).toEqual([]);
    await t.app.close();
  });

  it("an object deleted or altered behind snapbot's back: verify says broken, naming the part", async () => {
    const t = await app();
    await t.run("create files-1 s2");
    await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: "prod/files-1/s2/.parts/part-000001" }));
    const deleted = await t.run("verify files-1/s2");
    expect(deleted.tone).toBe("error");
    expect(JSON.stringify(deleted)).toMatch(/part-000001 is missing/);
    expect(await t.state("s2")).toBe("broken");

    await t.run("create files-1 s3");
    const key = "prod/files-1/s3/.parts/part-000002";
    const bytes = Buffer.from(await (await admin.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
    bytes[10] = bytes[10]! ^ 0xff;
    await admin.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    const altered = await t.run("verify files-1/s3");
    expect(JSON.stringify(altered)).toMatch(/part-000002 is corrupt/);
    expect(await t.state("s3")).toBe("broken");
    await t.app.close();
  });

  it("storage scan finds a snapshot in the bucket that a fresh ledger does not know, and adopt re-verifies it", async () => {
    const first = await app();
    await first.run("create files-1 lost-1");
    await first.app.close();
    const t = await app(); // a new ledger: the bucket is all that is left
    const scan = await t.run("storage scan", "U0ADMIN");
    expect(JSON.stringify(scan)).toMatch(/files-1\/lost-1.*complete/);
    const adopted = await t.run("storage adopt files-1/lost-1", "U0ADMIN");
    expect(adopted.tone).toBe("success");
    expect(await t.state("lost-1")).toBe("done");
    await t.app.close();
  });

  it("copy of a local snapshot to the S3 target: read back, then verify and restore --from offsite use it", async () => {
    const t = await app({ server: { store: undefined } }); // kept in storage.path; offsite holds the copy
    expect(await t.run("create files-1 local-1")).toMatchObject({ tone: "success" });
    const copied = await t.run("copy files-1/local-1 offsite");
    expect(copied).toMatchObject({ tone: "success" });
    expect(await keysIn(admin, bucket, "prod/files-1/local-1/")).toEqual([
      "prod/files-1/local-1/.parts/part-000000", "prod/files-1/local-1/.parts/part-000001", "prod/files-1/local-1/.parts/part-000002",
      "prod/files-1/local-1/README.txt", "prod/files-1/local-1/manifest.json",
    ]);
    const verified = await t.run("verify files-1/local-1 --from offsite");
    expect(verified.tone).toBe("success");
    expect(JSON.stringify(verified)).toMatch(/offsite/);
    await t.app.close();
  });

  it("an unreachable endpoint, wrong credentials, a missing bucket: each fails the create in one line", async () => {
    const closed = await app({ endpoint: `http://127.0.0.1:${await freePort()}` });
    await failsCleanly(closed, "down-1", /^storage target offsite: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*check storage\.targets\.offsite\.s3\.endpoint/);
    await closed.app.close();
    const wrong = await app({ env: { [S3_ENV.access]: ceph.accessKey, [S3_ENV.secret]: "wrong-secret-value" } });
    await failsCleanly(wrong, "denied-1", /refused snapbot's credentials \(403 SignatureDoesNotMatch\): check the keys in SNAPBOT_TEST_S3_ACCESS and SNAPBOT_TEST_S3_SECRET/);
    await wrong.app.close();
    const missing = await app({ bucket: "snapbot-no-such-bucket" });
    await failsCleanly(missing, "nobucket-1", /bucket snapbot-no-such-bucket does not exist on http/, "snapbot-no-such-bucket");
    await missing.app.close();
  });

  it("the connection cut mid part on every try: retried, then failed, never a manifest", async () => {
    const t = await app({ endpoint: proxy.url });
    proxy.set({ kind: "cut", afterBytes: 3 * MiB });
    try {
      await failsCleanly(t, "cut-1", /^storage target offsite: the connection to http:\/\/127\.0\.0\.1:\d+ broke during upload of files-1\/cut-1 \.parts\/part-00000\d.*\(3 attempts\)$/);
    } finally {
      proxy.set({ kind: "pass" });
    }
    expect(logged.text()).toMatch(/"what":"upload of files-1\/cut-1[^"]*","attempt":1.*S3 request failed; trying again/);
    await t.app.close();
  });

  it("a stalled endpoint is stopped at the server's timeout: failed, its connections closed", async () => {
    const t = await app({ endpoint: proxy.url, server: { timeout: 3 } });
    proxy.set({ kind: "stall", afterBytes: 2 * MiB }, { times: 1 });
    const final = await t.run("create files-1 stall-1");
    expect(proxy.fired()).toBe(1);
    expect(final).toMatchObject({ tone: "error", lines: [expect.stringMatching(/^timed out after 3s: the operation was stopped/)] });
    expect(await t.state("stall-1")).toBe("failed");
    await waitFor("the stalled upload to be let go", () => (proxy.stalled() === 0 ? true : undefined));
    expect(await keysIn(admin, bucket, "prod/files-1/stall-1/")).not.toContain("prod/files-1/stall-1/manifest.json");
    await t.app.close();
  });

  it("a bucket whose quota is full refuses the parts: failed with the reason, no manifest", async () => {
    const small = await createBucket(admin, "full");
    radosgwAdmin(ceph, ["quota", "set", "--quota-scope=bucket", `--bucket=${small}`, "--max-size=4M"]);
    radosgwAdmin(ceph, ["quota", "enable", "--quota-scope=bucket", `--bucket=${small}`]);
    const t = await app({ bucket: small });
    await failsCleanly(t, "full-1", /bucket \S+ refused upload of files-1\/full-1 \.parts\/part-00000\d.*its quota is exceeded \(QuotaExceeded\): free space there or raise the quota/, small);
    await t.app.close();
  });

  it("a credential variable that is not set stops start-up with one line naming it", async () => {
    await expect(app({ env: { [S3_ENV.access]: ceph.accessKey } })).rejects.toMatchObject({
      code: "bad_config",
      message: "storage.targets.offsite.s3.secret_key_env: the environment variable SNAPBOT_TEST_S3_SECRET is not set: export it before starting snapbot",
    });
  });

  it("never shows or logs the credentials, nor records them in the ledger", () => {
    const all = texts.join("\n") + logged.text();
    expect(logged.text()).toMatch(/trying again/); // the log was really captured
    for (const secret of [ceph.secretKey, ceph.accessKey, "wrong-secret-value"]) expect(all).not.toContain(secret);
    for (const file of readdirSync(root, { recursive: true }) as string[])
      if (/ledger\.db/.test(file)) expect(readFileSync(join(root, file)).includes(ceph.secretKey)).toBe(false);
  });
});
