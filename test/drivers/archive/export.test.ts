import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import type { Reply } from "../../../src/reply.ts";

// export with the real qemu-img: a raw archive of an image file comes back as vmdk, vhd and qcow2 images
// qemu-img itself reads as identical to the original.

const hasQemuImg = (() => {
  try {
    execFileSync("qemu-img", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!hasQemuImg && process.env.CI === "true") throw new Error("qemu-img is missing: .ci/run installs qemu-utils");

const MiB = 1024 * 1024;
const dir = tempDir("snapbot-export-");

function makeImage(path: string): void {
  const image = Buffer.alloc(16 * MiB); // zeros, with random blocks here and there
  for (const at of [0, 3, 7, 8, 15]) randomBytes(MiB / 2).copy(image, at * MiB + 4096);
  writeFileSync(path, image);
}

const finalOf = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title}`);
  return r.follow.done;
};

async function setup(name: string) {
  const root = join(dir, name);
  const image = join(dir, `${name}.img`);
  makeImage(image);
  const { app, run } = await testApp(root, {
    storage: { path: "snaps" },
    servers: { disk: { driver: "archive", mode: "raw", device: image, part_size: "1MiB" }, files: { driver: "archive", paths: [dir] } },
  });
  expect((await finalOf(await run("create disk s1"))).tone).toBe("success");
  return { app, run, image, folder: join(root, "snaps", "disk", "s1") };
}

const qemuInfo = (file: string) => JSON.parse(execFileSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" })) as { format: string; "virtual-size": number };

describe.skipIf(!hasQemuImg)("export of raw archive snapshots with qemu-img", () => {
  it("exports to vmdk, vhd and qcow2: qemu-img reads each as identical to the original, checksum in the reply", async () => {
    const { app, run, image, folder } = await setup("formats");
    for (const [format, qemu] of [["vmdk", "vmdk"], ["vhd", "vpc"], ["qcow2", "qcow2"]] as const) {
      const final = await finalOf(await run(`export disk/s1 --format ${format}`));
      expect(final.tone, final.lines?.join("\n")).toBe("success");
      expect(final.title).toMatch(new RegExp(`^disk/s1 exported to ${format} in .+ \\(operation #\\d+, asked by U1\\)$`));
      const file = join(folder, `export.${format}`);
      const sum = execFileSync("sha256sum", [file], { encoding: "utf8" }).split(" ")[0]!;
      expect(final.lines).toEqual([`file: ${file}`, `sha256: ${sum}`]);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const info = qemuInfo(file);
      expect(info.format).toBe(qemu);
      expect(info["virtual-size"]).toBeGreaterThanOrEqual(16 * MiB);
      expect(execFileSync("qemu-img", ["compare", "-f", "raw", "-F", qemu, image, file], { encoding: "utf8" })).toMatch(/Images are identical/);
    }
    expect(readdirSync(folder).sort()).toEqual([".parts", "README.txt", "export.qcow2", "export.vhd", "export.vmdk", "manifest.json"]); // no temp raw left
    const ops = (await app.ledger.operations.list({ limit: 10 })).filter((o) => o.kind === "export");
    expect(ops).toHaveLength(3);
    expect(ops.every((o) => o.state === "succeeded" && /^exported to .+\/export\.\w+ \(sha256 [0-9a-f]{64}\)$/.test(o.result ?? ""))).toBe(true);
    // delete still recognises the folder as snapbot's own
    expect((await finalOf(await run("delete disk/s1"))).tone).toBe("success");
    expect(existsSync(folder)).toBe(false);
    await app.close();
  });

  it("refuses a tar snapshot, a corrupted part and a bad format clearly, writing nothing", async () => {
    const { app, run, folder } = await setup("refusals");
    expect((await finalOf(await run("create files t1"))).tone).toBe("success");
    expect(await run("export files/t1 --format qcow2")).toMatchObject({ tone: "error", title: "export needs a raw snapshot (mode: raw); files/t1 is a tar archive" });

    const usage = "usage: export <server>/<snap> --format vmdk|vhd|qcow2";
    expect(await run("export disk/s1 --format vdi")).toMatchObject({ tone: "error", title: `cannot export to "vdi": pick vmdk, vhd or qcow2; ${usage}` });
    expect(await run("export disk/s1")).toMatchObject({ tone: "error", title: `export needs --format; ${usage}` });
    expect(await run("export disk/s1 --format")).toMatchObject({ tone: "error", title: `--format needs a value; ${usage}` });

    const part = join(folder, ".parts", "part-000001");
    const bytes = Buffer.from(execFileSync("cat", [part]));
    bytes[10] = bytes[10]! ^ 0xff;
    writeFileSync(part, bytes);
    const final = await finalOf(await run("export disk/s1 --format vmdk"));
    expect(final.tone).toBe("error");
    expect(final.lines![0]).toMatch(/^disk\/s1 is broken and will not be exported: part-000001 is corrupt/);
    expect(readdirSync(folder).filter((f) => f.startsWith("export") || f.startsWith(".export"))).toEqual([]);
    await app.close();
  });

  it("removes its temporary and partial files when the work is cancelled", async () => {
    const { app, folder } = await setup("cancel");
    const server = (await app.ledger.servers.get("disk"))!;
    const snap = (await app.ledger.snapshots.find(server.id, "s1"))!;
    const stop = new AbortController();
    let converting = false;
    const ctx = {
      signal: stop.signal,
      log: app.log,
      progress: (p: { stage: string }) => {
        if (p.stage !== "converting") return;
        converting = true;
        stop.abort(new Error("cancelled by the test"));
      },
    };
    const handle = { server: "disk", name: "s1", location: snap.location, createdAt: snap.created_at };
    await expect(app.drivers.get(server).export!(handle, "qcow2", ctx)).rejects.toThrow();
    expect(converting).toBe(true); // stopped after the raw image was written, while qemu-img ran
    expect(readdirSync(folder).sort()).toEqual([".parts", "README.txt", "manifest.json"]);
    await app.close();
  });
});
