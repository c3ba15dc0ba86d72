import { mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { approvalOf, done, text } from "./command-replies.ts";

// The three shapes of a command snapshot, with real tools: the folder a step wrote at {dir} (stored as a tar,
// restored extracted at {dir}), a stdout snapshot checked at {file} after it was stored (the bytes read back
// from the parts), and a check that fails on those bytes (nothing stored).

const root = tempDir("snapbot-cmd-art-");
const site = join(root, "site");
const data = join(root, "data.txt");
let t: Awaited<ReturnType<typeof testApp>>;


beforeAll(async () => {
  mkdirSync(join(site, "sub"), { recursive: true });
  writeFileSync(join(site, "a.txt"), "A\n");
  writeFileSync(join(site, "sub", "b.txt"), "B\n");
  writeFileSync(data, "line 1\nline 2\n");
  const file = {
    roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
    storage: { path: "snaps" },
    servers: {
      "dir-app": {
        driver: "command",
        sensitive: false,
        vars: { site },
        create: [["cp", "-a", "{site}/.", "{dir}"]],
        check: [["test", "-f", "{dir}/sub/b.txt"]],
        restore: [["cp", "-a", "{dir}/.", "{site}"]],
      },
      "checked-stdout": {
        driver: "command",
        sensitive: false,
        create: [["cat", data]],
        check: [["cmp", "{file}", data]],
      },
      "check-refuses": {
        driver: "command",
        sensitive: false,
        create: [["cat", data]],
        check: [["grep", "-q", "line 3", "{file}"]],
      },
    },
  };
  t = await testApp(root, file);
});
afterAll(() => t?.app.close());

describe("command snapshot shapes", () => {
  it("{dir}: the folder is stored as a tar and extracted at {dir} for the restore steps", async () => {
    expect((await done(await t.run("create dir-app s1", "U0OP"))).tone).toBe("success");
    const m = JSON.parse(readFileSync(join(root, "snaps", "dir-app", "s1", "manifest.json"), "utf8"));
    expect(m.artefact).toBe("dir");
    expect(readFileSync(join(root, "snaps", "dir-app", "s1", ".parts", "part-000000")).subarray(257, 262).toString()).toBe("ustar");
    rmSync(join(site, "sub"), { recursive: true });
    writeFileSync(join(site, "a.txt"), "changed\n");
    const ask = await t.run("restore dir-app/s1", "U0OP");
    expect(text(ask)).toMatch(/extracted at \{dir\}/);
    expect((await done(await t.run(`approve ${approvalOf(ask)}`, "U0ALICE"))).tone).toBe("success");
    expect(readFileSync(join(site, "a.txt"), "utf8")).toBe("A\n");
    expect(readFileSync(join(site, "sub", "b.txt"), "utf8")).toBe("B\n");
  });

  it("a stdout snapshot's check reads the stored bytes back at {file}", async () => {
    const r = await done(await t.run("create checked-stdout s1", "U0OP"));
    expect(r.tone).toBe("success");
    const meta = JSON.parse(readFileSync(join(root, "snaps", "checked-stdout", "s1", "metadata.json"), "utf8"));
    expect(meta.steps.map((s: { phase: string }) => s.phase)).toEqual(["create", "check"]);
  });

  it("a check that fails on the stored bytes: failed, with the step named, and nothing left in storage", async () => {
    const r = await done(await t.run("create check-refuses s1", "U0OP"));
    expect(r.tone).toBe("error");
    expect(text(r)).toMatch(/check step 1 \(grep -q line 3 \{file\}\) failed \(exit 1\)/);
    expect(existsSync(join(root, "snaps", "check-refuses", "s1"))).toBe(false);
  });
});
