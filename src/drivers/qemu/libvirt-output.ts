// What virsh and qemu-img print, read into plain values (pure functions, so they are tested on their own).

/** One row of `virsh snapshot-list <dom> --parent`. */
export interface ListedSnapshot {
  name: string;
  createdAt: number; // ms since epoch (libvirt's creationTime, whole seconds)
  state: string; // the domain's state when it was taken: running, shutoff, paused, disk-snapshot…
  parent: string | null;
}

// " s2     2026-12-02 20:14:14 +0000   shutoff   s1": the time has a fixed strftime format ("%Y-%m-%d %H:%M:%S %z")
// and the state is one word, so a row is read around them rather than by column offsets (virsh pads by
// display width, which differs from string length for wide characters).
const ROW = /^\s*(.+?)\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d)(\d\d)\s+(\S+)(?:\s+(.*?))?\s*$/;

export function parseSnapshotList(out: string): ListedSnapshot[] {
  const rows: ListedSnapshot[] = [];
  for (const line of out.split("\n")) {
    const m = ROW.exec(line);
    if (!m) continue; // the header, the dashes, the blank end
    const createdAt = Date.parse(`${m[2]}T${m[3]}${m[4]}:${m[5]}`);
    if (Number.isNaN(createdAt)) continue;
    rows.push({ name: m[1]!, createdAt, state: m[6]!, parent: m[7] ? m[7] : null });
  }
  return rows;
}

/** One row of `virsh domblklist <dom> --details`. */
export interface DomainDisk {
  type: string; // file, block, network, volume
  device: string; // disk, cdrom, floppy, lun
  target: string; // vda
  source: string | null; // "-" (an empty cdrom) is null
}

export function parseDiskList(out: string): DomainDisk[] {
  const disks: DomainDisk[] = [];
  for (const line of out.split("\n").slice(2)) {
    const m = /^\s*(\S+)\s+(\S+)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (!m) continue;
    disks.push({ type: m[1]!, device: m[2]!, target: m[3]!, source: m[4] === "-" ? null : m[4]! });
  }
  return disks;
}

/** vm-state-size per qcow2 snapshot tag, from `qemu-img info -U --output=json`. */
export function vmStateSizes(infoJson: string): Map<string, number> {
  const info = JSON.parse(infoJson) as { snapshots?: Array<{ name?: string; "vm-state-size"?: number }> };
  const sizes = new Map<string, number>();
  for (const s of info.snapshots ?? []) if (typeof s.name === "string") sizes.set(s.name, s["vm-state-size"] ?? 0);
  return sizes;
}

/** `qemu-img check --output=json`: corruptions and check errors make it fail; leaked clusters only waste space. */
export function checkProblems(checkJson: string, file: string): string[] {
  const r = JSON.parse(checkJson) as { corruptions?: number; "check-errors"?: number };
  const problems: string[] = [];
  if (r.corruptions) problems.push(`qemu-img check found ${r.corruptions} corruption${r.corruptions === 1 ? "" : "s"} in ${file}`);
  if (r["check-errors"]) problems.push(`qemu-img check could not check ${file} fully (${r["check-errors"]} internal errors)`);
  return problems;
}
