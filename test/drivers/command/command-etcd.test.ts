import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { ageKey, filesContaining } from "../../helpers/age-identity.ts";
import { describeEtcd, memberUrls, startEtcd, type EtcdMember } from "../../helpers/etcd.ts";
import { approvalOf, done, text } from "./command-replies.ts";

// driver: command against a real etcd 3.4: `etcdctl snapshot save {file}` (the snapshot is that file), checked with
// `snapshot status {file}` before it counts; restore = `etcdctl snapshot restore {file}` into a new member's data
// dir, and the keys read back from a member started there. A check that fails means no snapshot at all.

const MARKER = "SNAPBOT-ETCD-MARKER-93ab";
const root = tempDir("snapbot-cmd-etcd-");
let e1: EtcdMember;
let e2: EtcdMember | undefined;
let peer2: { client: string; peer: string };
let t: Awaited<ReturnType<typeof testApp>>;

const restoredDir = () => join(root, "n2.etcd");

describeEtcd("driver: command with etcd 3.4", () => {
  beforeAll(async () => {
    e1 = await startEtcd(root, "n1", await memberUrls());
    e1.put("/app/a", "1");
    e1.put("/app/secret", MARKER);
    peer2 = await memberUrls();
    const key = await ageKey(root, "snapbot");
    const file = {
      roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
      storage: { path: "snaps", encryption: { recipients: [key.recipient], identity_file: key.file } },
      servers: {
        "etcd-1": {
          driver: "command",
          vars: { ep: e1.client, peer: peer2.peer, data: restoredDir() },
          create: [["etcdctl", "--endpoints={ep}", "snapshot", "save", "{file}"]],
          check: [["etcdctl", "snapshot", "status", "{file}", "-w", "json"]],
          restore: [["etcdctl", "snapshot", "restore", "{file}", "--data-dir={data}", "--name=n2", "--initial-cluster=n2={peer}", "--initial-advertise-peer-urls={peer}"]],
          versions: [["etcdctl", "version"]],
        },
        "etcd-badcheck": {
          driver: "command",
          vars: { ep: e1.client },
          create: [["etcdctl", "--endpoints={ep}", "snapshot", "save", "{file}"]],
          check: [["etcdctl", "snapshot", "status", "{file}.nope", "-w", "json"]],
        },
      },
    };
    // etcdctl 3.4 speaks API v3 by default: the steps need no environment of their own.
    t = await testApp(root, file);
  }, 60_000);
  afterAll(async () => {
    await t?.app.close();
    await e1?.stop();
    await e2?.stop();
  });

  it("snapshot save {file}, checked by snapshot status, stored encrypted; etcdctl's version recorded", async () => {
    const r = await done(await t.run("create etcd-1 s1", "U0OP"));
    expect(r.tone).toBe("success");
    expect(filesContaining(join(root, "snaps", "etcd-1"), MARKER)).toEqual([]);
    const meta = JSON.parse(readFileSync(join(root, "snaps", "etcd-1", "s1", "metadata.json"), "utf8"));
    expect(meta.artefact).toBe("file");
    expect(meta.steps.map((s: { phase: string }) => s.phase)).toEqual(["create", "check"]);
    expect(meta.tools.etcdctl).toMatch(/^etcdctl version: 3\.4\./);
  });

  it("a check step that fails: the create fails with its stderr, and nothing is stored", async () => {
    const r = await done(await t.run("create etcd-badcheck s1", "U0OP"));
    expect(r.tone).toBe("error");
    expect(text(r)).toMatch(/check step 1 \(etcdctl snapshot status \{file\}\.nope -w json\) failed \(exit \d+\)/);
    expect(text(r)).toMatch(/no such file/i);
    expect(existsSync(join(root, "snaps", "etcd-badcheck", "s1"))).toBe(false);
  });

  it("restore (approved) writes a new member's data dir with snapshot restore; the member started there serves the keys", async () => {
    e1.put("/app/a", "changed-after-the-snapshot");
    const ask = await t.run("restore etcd-1/s1", "U0OP");
    expect(text(ask)).toMatch(/no clean steps/);
    const r = await done(await t.run(`approve ${approvalOf(ask)}`, "U0ALICE"));
    expect(r.tone).toBe("success");
    e2 = await startEtcd(root, "n2", peer2, restoredDir());
    expect(e2.get("/app/a")).toBe("1");
    expect(e2.get("/app/secret")).toBe(MARKER);
  });
});
