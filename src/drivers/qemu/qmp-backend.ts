import { BackendError, errorMessage, UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { DriverContext } from "../driver.ts";
import { found } from "./image-backend.ts";
import type { QemuBackend, QemuSnapshot } from "./qemu-backend.ts";
import { assertTag, checkImage, fromInfoSnapshots, quickSnapshotTable, readSnapshotTable, type InfoSnapshot } from "./qemu-img.ts";
import { withQmp, type QmpSession } from "./qmp-client.ts";
import type { OpenQmpLink } from "./qmp-link.ts";

// `qmp:` — a running QEMU, through the snapshot-save / snapshot-load / snapshot-delete jobs (QEMU 6.0+):
// VM state included, every qcow2 disk in the snapshot. HMP savevm is not used: it silently overwrites an
// existing tag and reports errors as a successful reply. create reads the new entry back from QEMU itself
// (query-block's image info lists the open image's snapshot table: the one the job just wrote, no process and
// no file read); list and verify read the file with `qemu-img info -U` (force-share, a read), the disk's own
// account.

interface Disks {
  nodes: string[]; // the qcow2 format nodes the snapshot covers; the VM state goes into the first
  file: string; // the first one's file: where qemu-img reads the table
}

interface BlockInfo {
  device: string;
  inserted?: { "node-name": string; drv: string; ro: boolean; file: string; image?: { snapshots?: InfoSnapshot[] } };
}

/** `local`: the disk's file is on this machine, so create reads its table without starting qemu-img (qcow2-table.ts). */
export function createQmpBackend(
  server: string,
  socket: string,
  runner: Runner,
  link: (signal: AbortSignal) => OpenQmpLink,
  o: { local: boolean } = { local: false },
): QemuBackend {
  const what = `QMP ${socket}`;
  const session = <T>(ctx: DriverContext, fn: (s: QmpSession, d: Disks) => Promise<T>) =>
    withQmp(link(ctx.signal), what, ctx.signal, async (s) => fn(s, await disks(s, server, what))).catch((e: unknown) => {
      throw explain(e, server, socket);
    });
  const table = (file: string, ctx: DriverContext) => readSnapshotTable(runner, file, { shared: true, signal: ctx.signal });
  const quick = (file: string, ctx: DriverContext) => quickSnapshotTable(runner, file, { shared: true, signal: ctx.signal, local: o.local });
  // The disks the last operation found. A create saves over them and then reads QEMU's table back with
  // query-block (its check), which also says which disks the VM has now: one query-block per create instead of
  // two (at a few hundred snapshots each costs ~1.5 ms of a ~30 ms save), sent in the job's last round trip.
  // Disks that changed in between (one hot-plugged, one removed, another VM on the socket) are never missed:
  // a save over the old set is taken again over the new one, and one the old set cannot take is tried again
  // over the new.
  let known: Disks | null = null;
  const saveOverDisks = async (s: QmpSession, name: string): Promise<{ file: string; table: QemuSnapshot[] | null }> => {
    let d = known ?? (await disks(s, server, what));
    for (let attempt = 0; ; attempt++) {
      let blocks: BlockInfo[];
      try {
        blocks = await s.job<BlockInfo[]>("snapshot-save", { tag: name, vmstate: d.nodes[0], devices: d.nodes }, "query-block");
      } catch (e) {
        if (/Snapshot '.*' already exists/.test(errorMessage(e)))
          throw new UserError("snapshot_exists", `${server} already has a snapshot ${name}: pick another name, or delete ${server}/${name} first`);
        known = null;
        const now = attempt === 0 ? await disks(s, server, what) : d;
        if (sameDisks(now, d)) throw e;
        d = now;
        continue;
      }
      const now = disksOf(blocks, server, what);
      known = now;
      if (sameDisks(now, d) || attempt > 0) return { file: d.file, table: tableOf(blocks, d.nodes[0]!) };
      await s.job("snapshot-delete", { tag: name, devices: d.nodes }); // it missed a disk the VM has now
      d = now;
    }
  };
  return {
    describe: what,
    async probe(ctx) {
      await session(ctx, (s) => s.execute("query-status"));
    },
    list: async (ctx) => table(await session(ctx, async (_s, d) => d.file), ctx),
    async create(name, _stateful, ctx) {
      assertTag(name);
      // A running VM's snapshot always carries its state: snapshot-save has no disk-only form.
      // snapshot-save itself refuses an existing tag (unlike HMP savevm, which overwrites): no read first.
      const after = await withQmp(link(ctx.signal), what, ctx.signal, (s) => saveOverDisks(s, name)).catch((e: unknown) => {
        throw explain(e, server, socket);
      });
      return found(after.table ?? (await quick(after.file, ctx)), name, what);
    },
    apply: (name, ctx) =>
      session(ctx, async (s, d) => {
        assertTag(name);
        const before = await s.execute<{ running: boolean }>("query-status");
        try {
          await s.job("snapshot-load", { tag: name, vmstate: d.nodes[0], devices: d.nodes });
        } catch (e) {
          // A failed snapshot-load leaves the VM paused (restore-vm): a VM that ran goes on running as it was.
          if (before.running && !ctx.signal.aborted) await s.execute("cont").catch(() => undefined);
          throw e;
        }
      }),
    remove: (name, ctx) =>
      session(ctx, async (s, d) => {
        assertTag(name);
        await s.job("snapshot-delete", { tag: name, devices: d.nodes }); // a tag already gone is no error in QEMU
      }),
    check: async (ctx) => checkImage(runner, await session(ctx, async (_s, d) => d.file), { shared: true, signal: ctx.signal }),
    imageFile: (ctx) => session(ctx, async (_s, d) => d.file),
  };
}

// The disks a guest writes: every device's top node when it is a writable qcow2 (the node-name of the -drive).
async function disks(s: QmpSession, server: string, what: string): Promise<Disks> {
  return disksOf(await s.execute<BlockInfo[]>("query-block"), server, what);
}

function disksOf(blocks: BlockInfo[], server: string, what: string): Disks {
  const qcow2 = blocks.flatMap((b) => (b.inserted && b.inserted.drv === "qcow2" && !b.inserted.ro ? [b.inserted] : []));
  if (qcow2.length === 0)
    throw new UserError("no_qcow2_disk", `the VM behind ${what} has no writable qcow2 disk, so ${server} cannot hold internal snapshots`);
  return { nodes: qcow2.map((b) => b["node-name"]), file: qcow2[0]!.file };
}

function sameDisks(a: Disks, b: Disks): boolean {
  return a.file === b.file && a.nodes.join("\0") === b.nodes.join("\0");
}

// The snapshot table of the open image behind `node`, as QEMU holds it; null when this QEMU does not say.
function tableOf(blocks: BlockInfo[], node: string): QemuSnapshot[] | null {
  const snapshots = blocks.find((b) => b.inserted?.["node-name"] === node)?.inserted?.image?.snapshots;
  return snapshots ? fromInfoSnapshots(snapshots) : null;
}

// A socket that is not there is a setting to fix, not a failed operation.
function explain(e: unknown, server: string, socket: string): unknown {
  if (!(e instanceof BackendError) || e.code !== "qmp_closed" || !/no such socket|nothing listens|No such file or directory|Connection refused/.test(e.message)) return e;
  return new UserError(
    "qmp_unreachable",
    `${server}: no QEMU answers on ${socket} (${e.message.split(": ").at(-1)}): start the VM with -qmp unix:${socket},server=on,wait=off, or fix qmp:`,
    { cause: e },
  );
}
