import { BackendError, UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { DriverContext } from "../driver.ts";
import type { QemuBackend, QemuSnapshot } from "./qemu-backend.ts";
import { assertTag, checkImage, isLocked, quickSnapshotTable, readSnapshotTable } from "./qemu-img.ts";

// `image:` — the qcow2 file of a stopped VM, with `qemu-img snapshot -c/-a/-d`. Every command runs without
// -U (force-share), reads included: a running VM holds the image's lock, qemu-img then fails with
// `Failed to get shared "write" lock`, and snapbot refuses instead of writing under a live guest.

/** `local`: the file is on this machine, so create reads its table without starting qemu-img (qcow2-table.ts). */
export function createImageBackend(server: string, file: string, runner: Runner, o: { local: boolean } = { local: false }): QemuBackend {
  const where = `image ${file}`;
  const qemuImg = async <T>(args: string[], ctx: DriverContext, then: () => Promise<T>): Promise<T> => {
    try {
      if (args.length) await runner.run("qemu-img", args, { signal: ctx.signal });
      return await then();
    } catch (e) {
      if (isLocked(e)) throw inUse(server, file, e);
      throw e;
    }
  };
  const list = (ctx: DriverContext) => qemuImg([], ctx, () => readSnapshotTable(runner, file, { shared: false, signal: ctx.signal }));
  const quick = (ctx: DriverContext) => qemuImg([], ctx, () => quickSnapshotTable(runner, file, { shared: false, signal: ctx.signal, local: o.local }));
  return {
    describe: where,
    async probe(ctx) {
      await list(ctx);
    },
    list,
    async create(name, stateful, ctx) {
      assertTag(name);
      if (stateful)
        throw new UserError("not_running", `${server} is a stopped VM's image (${file}): there is no running state to save; drop --stateful, or configure qmp: or domain: for a running VM`);
      // qemu-img -c happily makes a second snapshot with the same tag: refuse first.
      if ((await quick(ctx)).some((s) => s.name === name)) throw exists(server, name);
      return qemuImg(["snapshot", "-c", name, file], ctx, async () => found(await quick(ctx), name, where));
    },
    async apply(name, ctx) {
      assertTag(name);
      present(await list(ctx), server, name);
      await qemuImg(["snapshot", "-a", name, file], ctx, async () => undefined);
    },
    async remove(name, ctx) {
      assertTag(name);
      if (!(await list(ctx)).some((s) => s.name === name)) return; // deleted by hand already: still deleted
      await qemuImg(["snapshot", "-d", name, file], ctx, async () => undefined);
    },
    check: (ctx) => qemuImg([], ctx, () => checkImage(runner, file, { shared: false, signal: ctx.signal })),
    imageFile: async () => file,
  };
}

function inUse(server: string, file: string, cause: unknown): UserError {
  return new UserError(
    "image_in_use",
    `${file} is in use by a running VM, so ${server} will not touch it: configure qmp: (its QMP socket) or domain: (its libvirt domain) for ${server} instead of image:`,
    { cause },
  );
}

function exists(server: string, name: string): UserError {
  return new UserError("snapshot_exists", `${server} already has a snapshot ${name} in its image: pick another name, or delete ${server}/${name} first`);
}

function present(table: QemuSnapshot[], server: string, name: string): void {
  if (!table.some((s) => s.name === name))
    throw new UserError("snapshot_missing", `${server}/${name} is not in the image's snapshot table: list ${server} shows the snapshots there`);
}

/** The entry just made (the newest of that name, should the table hold two after all). */
export function found(table: QemuSnapshot[], name: string, where: string): QemuSnapshot {
  const hit = table.filter((s) => s.name === name).at(-1);
  if (!hit) throw new BackendError("snapshot_missing", `${name} is not in the snapshot table of ${where} after creating it`);
  return hit;
}
