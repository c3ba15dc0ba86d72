import type { DriverContext } from "../driver.ts";

// The three ways snapbot reaches a VM's qcow2 snapshots (DESIGN.md §3, driver: qemu), behind one port so the
// driver's tree, verify and export logic is written once: `image:` (qemu-img on a stopped VM's file), `qmp:`
// (the snapshot-save/load/delete jobs of a running QEMU) and `domain:` (virsh on a libvirt domain).

/** One internal snapshot as the backend reports it. */
export interface QemuSnapshot {
  name: string; // qcow2 tag = libvirt snapshot name
  createdAt: number; // ms since epoch (qemu-img's date-sec/date-nsec; libvirt's creationTime)
  vmStateSize: number; // bytes of saved VM state (0 for a disk-only snapshot)
  /** libvirt only: the parent it records; undefined where the backend keeps no tree (qemu-img, QMP). */
  parent?: string | null;
  /** libvirt only: the domain's current snapshot. */
  current?: boolean;
}

export interface QemuCheck {
  ok: boolean;
  problems: string[]; // one line each, qemu-img check's own words
}

export interface QemuBackend {
  /** For messages: "image /var/lib/vms/db.qcow2", "QMP /run/vm-app.qmp", "domain web (qemu:///system)". */
  readonly describe: string;
  /** At register: the image / socket / domain exists and answers; throws a UserError saying what to fix. */
  probe(ctx: DriverContext): Promise<void>;
  list(ctx: DriverContext): Promise<QemuSnapshot[]>;
  /** Refuses an existing name; `stateful` asks for the VM state too where the backend can (running VM). */
  create(name: string, stateful: boolean, ctx: DriverContext): Promise<QemuSnapshot>;
  /** Back to the snapshot (CloudCIX "apply"): changes since the current snapshot are discarded. */
  apply(name: string, ctx: DriverContext): Promise<void>;
  remove(name: string, ctx: DriverContext): Promise<void>;
  /** qemu-img check on the image (-U while a VM runs). */
  check(ctx: DriverContext): Promise<QemuCheck>;
  /** The qcow2 file export reads (libvirt: the domain's first disk source). */
  imageFile(ctx: DriverContext): Promise<string>;
}
