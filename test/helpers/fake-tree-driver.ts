import { z } from "zod";
import type { BackendSnapshot, CreateRequest, DriverModule, SnapshotDriver, SnapshotHandle } from "../../src/drivers/driver.ts";
import { BackendError } from "../../src/errors.ts";

// A real in-memory hypervisor with snapshot trees, for the tree tests: each server has a disk (a string) and
// internal snapshots with parents and a current one, kept the way libvirt keeps them (a new snapshot is a
// child of the current one and becomes it; apply moves current; delete hands the children to the parent).
// `reports` switches what listBackend says: "libvirt" (parent and current, the truth) or "qemu-img" (neither).

export interface TreeSnap {
  disk: string;
  parent: string | null;
  createdAt: number;
  vmState: number;
}

export interface TreeVm {
  disk: string;
  snaps: Map<string, TreeSnap>;
  current: string | null;
}

export interface FakeTreeBackend {
  vms: Map<string, TreeVm>;
  reports: "libvirt" | "qemu-img";
  /** Every backend delete, in order: "vm/s3". */
  deletions: string[];
  /** Deletes of these snapshot names fail with the backend's own message. */
  failDelete: Set<string>;
  /** Set: every create fails with this message. */
  failCreate: string | null;
  vm(server: string): TreeVm;
  /** A snapshot made outside snapbot (virsh snapshot-create-as / qemu-img snapshot -c), as the backend does it. */
  external(server: string, name: string, createdAt: number): void;
}

export function fakeTreeBackend(): FakeTreeBackend {
  const vms = new Map<string, TreeVm>();
  const b: FakeTreeBackend = {
    vms,
    reports: "libvirt",
    deletions: [],
    failDelete: new Set(),
    failCreate: null,
    vm(server) {
      let v = vms.get(server);
      if (!v) vms.set(server, (v = { disk: "", snaps: new Map(), current: null }));
      return v;
    },
    external(server, name, createdAt) {
      take(b.vm(server), name, createdAt, 0);
    },
  };
  return b;
}

function take(vm: TreeVm, name: string, createdAt: number, vmState: number): void {
  if (vm.snaps.has(name)) throw new BackendError("exists", `snapshot ${name} already exists`);
  vm.snaps.set(name, { disk: vm.disk, parent: vm.current, createdAt, vmState });
  vm.current = name;
}

const settings = z
  .object({
    driver: z.literal("faketree"),
    channel: z.string().min(1).optional(),
    limit: z.number().int().positive().default(50),
    timeout: z.union([z.number(), z.string()]).optional(),
  })
  .strict();

const FEATURES = { trees: true, limit: true, stateful: true } as const;

/** `driver: faketree` servers: create, delete, verify, restore, listBackend; features trees and limit. */
export function fakeTreeDriverModule(backend: FakeTreeBackend): DriverModule<z.infer<typeof settings>> {
  return {
    kind: "faketree",
    summary: "an in-memory hypervisor with snapshot trees (tests)",
    settings,
    features: FEATURES,
    create: (server) => fakeTreeDriver(server.name, backend),
  };
}

function fakeTreeDriver(server: string, backend: FakeTreeBackend): SnapshotDriver {
  const vm = () => backend.vm(server);
  const held = (snap: SnapshotHandle) => {
    const s = vm().snaps.get(snap.name);
    if (!s) throw new BackendError("missing", `snapshot ${snap.name} does not exist on ${server}`);
    return s;
  };
  return {
    kind: "faketree",
    features: FEATURES,
    async create(req: CreateRequest) {
      if (backend.failCreate) throw new BackendError("fake_failed", backend.failCreate);
      const vmState = req.stateful ? 4096 : 0;
      take(vm(), req.name, req.createdAt, vmState);
      return { location: null, size: null, checksum: null, parts: [], details: { vm_state_size: vmState } };
    },
    async delete(snap) {
      held(snap);
      backend.deletions.push(`${server}/${snap.name}`);
      if (backend.failDelete.has(snap.name)) throw new BackendError("delete_failed", `error: Failed to delete snapshot ${snap.name}: disk is busy`);
      const v = vm();
      const gone = v.snaps.get(snap.name)!;
      for (const s of v.snaps.values()) if (s.parent === snap.name) s.parent = gone.parent;
      if (v.current === snap.name) v.current = gone.parent;
      v.snaps.delete(snap.name);
    },
    async verify(snap) {
      const ok = vm().snaps.has(snap.name);
      return { ok, problems: ok ? [] : [`${snap.name} is not in the image's snapshot table`], checkedBytes: 0 };
    },
    async describeRestore(snap) {
      held(snap);
      return { writes: `the disk of ${server} goes back to ${snap.name}; changes since the current snapshot are discarded`, notes: [], bytes: null };
    },
    async restore(snap) {
      const s = held(snap);
      vm().disk = s.disk;
      vm().current = snap.name;
      return { summary: `${server} is back at ${snap.name}` };
    },
    async listBackend(): Promise<BackendSnapshot[]> {
      const v = vm();
      return [...v.snaps].map(([name, s]) => ({
        name,
        createdAt: s.createdAt,
        expiresAt: null,
        stateful: s.vmState > 0,
        size: null,
        ...(backend.reports === "libvirt" ? { parent: s.parent, current: v.current === name } : {}),
        details: { vm_state_size: s.vmState },
      }));
    },
  };
}
