import type { Logger } from "pino";
import { UserError } from "../../errors.ts";
import type { BackendSnapshot, DriverContext, RestoreDescription, RestoreOptions, SnapshotDriver, SnapshotHandle, VerifyResult } from "../driver.ts";
import type { QemuBackend, QemuSnapshot } from "./qemu-backend.ts";
import { exportSnapshot, type ExportPlace } from "./qemu-export.ts";
import type { QemuMode } from "./qemu-settings.ts";

// The qemu driver, written once over the QemuBackend port: whichever way the VM is reached (image, QMP,
// libvirt), a snapshot is an internal qcow2 snapshot named like snapbot's, verify reads the image's table,
// and export writes a standalone image of one snapshot. The tree itself is the ledger's (parent, current).

export const QEMU_FEATURES = { trees: true, limit: true, stateful: true, exportFormats: ["qcow2", "vmdk", "vhd"] } as const;

export interface QemuDriverOptions {
  server: string;
  mode: QemuMode;
  export: ExportPlace;
  log: Logger;
}

export function createQemuDriver(backend: QemuBackend, o: QemuDriverOptions): SnapshotDriver {
  const ref = (snap: SnapshotHandle) => `${snap.server}/${snap.name}`;
  return {
    kind: "qemu",
    // A stopped VM's image has no running state to save: --stateful is answered from features there.
    features: { ...QEMU_FEATURES, stateful: o.mode !== "image", exportFormats: [...QEMU_FEATURES.exportFormats] },
    async create(req, ctx) {
      const s = await backend.create(req.name, req.stateful, ctx);
      return { location: null, size: null, checksum: null, parts: [], details: { vm_state_size: s.vmStateSize, mode: o.mode, date: s.createdAt } };
    },
    // create read the entry back from the table: that is the check.
    check: async () => ({ ok: true, problems: [], checkedBytes: 0 }),
    delete: (snap, ctx) => backend.remove(snap.name, ctx),
    async restore(snap, opts, ctx) {
      refuseOptions(snap, opts);
      await backend.apply(snap.name, ctx);
      return { summary: `${ref(snap)} applied: the VM's disk and state are back to ${snap.name}` };
    },
    async describeRestore(snap, opts): Promise<RestoreDescription> {
      refuseOptions(snap, opts);
      return {
        writes: `the VM's disk and state go back to ${ref(snap)}; changes since the current snapshot are discarded`,
        notes: o.mode === "image" ? ["the VM must stay stopped while its image is written"] : [],
        bytes: null,
      };
    },
    verify: (snap, ctx) => verifySnapshot(backend, snap, ctx),
    leftover: async (snap) => ((await backend.list(quietContext(o.log))).some((s) => s.name === snap.name) ? "complete" : "nothing"),
    listBackend: async (ctx) => (await backend.list(ctx)).map(backendSnapshot),
    export: (snap, format, ctx) => exportSnapshot(backend, snap, format, o.export, ctx),
    probe: (ctx) => backend.probe(ctx),
  };
}

function refuseOptions(snap: SnapshotHandle, opts: RestoreOptions): void {
  if (opts.target !== undefined)
    throw new UserError("no_target", `${snap.server} (qemu) goes back to a snapshot inside the VM's own image: --target is not possible; drop it`);
  if (opts.to !== undefined)
    throw new UserError("no_restore_to", `${snap.server} (qemu) cannot apply its snapshot to another VM: drop --to, or export ${snap.server}/${snap.name} and import the image there`);
}

async function verifySnapshot(backend: QemuBackend, snap: SnapshotHandle, ctx: DriverContext): Promise<VerifyResult> {
  const ref = `${snap.server}/${snap.name}`;
  const entry = (await backend.list(ctx)).find((s) => s.name === snap.name);
  if (!entry) return { ok: false, problems: [`${ref} is no longer in the image's snapshot table`], checkedBytes: 0 };
  const problems = recordedProblems(ref, entry, snap.details ?? {});
  problems.push(...(await backend.check(ctx)).problems);
  return { ok: problems.length === 0, problems, checkedBytes: 0 };
}

// Same tag, other snapshot: one deleted and made again by hand has another date (and usually VM-state size).
function recordedProblems(ref: string, entry: QemuSnapshot, details: Record<string, unknown>): string[] {
  const problems: string[] = [];
  if (typeof details.vm_state_size === "number" && details.vm_state_size !== entry.vmStateSize)
    problems.push(`${ref} has ${entry.vmStateSize} bytes of VM state in the image, ${details.vm_state_size} were recorded`);
  if (typeof details.date === "number" && details.date !== entry.createdAt)
    problems.push(`${ref} in the image is dated ${new Date(entry.createdAt).toISOString()}, not ${new Date(details.date).toISOString()} as recorded: it is another snapshot of that name`);
  return problems;
}

function backendSnapshot(s: QemuSnapshot): BackendSnapshot {
  return {
    name: s.name,
    createdAt: s.createdAt,
    expiresAt: null,
    stateful: s.vmStateSize > 0,
    size: null,
    ...(s.parent !== undefined ? { parent: s.parent } : {}),
    ...(s.current !== undefined ? { current: s.current } : {}),
    details: { vm_state_size: s.vmStateSize },
  };
}

// leftover() is asked at start-up without an operation: its own deadline, so a hung QEMU cannot stall start-up.
const LEFTOVER_MS = 60_000;
function quietContext(log: Logger): DriverContext {
  return { signal: AbortSignal.timeout(LEFTOVER_MS), progress: () => undefined, log };
}
