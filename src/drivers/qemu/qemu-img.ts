import { BackendError, UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { QemuCheck, QemuSnapshot } from "./qemu-backend.ts";
import { readQcow2Snapshots } from "./qcow2-table.ts";

// What the image and QMP modes read with qemu-img: the snapshot table (`info --output=json`) and `check`.
// `shared` adds -U (force-share), which a running VM's image needs for any read; it is never passed to a
// command that writes, and image mode reads without it too, so a VM that holds the file is noticed.

/** A snapshot as qemu-img info and QMP's query-block (ImageInfo.snapshots) both describe it. */
export interface InfoSnapshot {
  name: string;
  "date-sec": number;
  "date-nsec": number;
  "vm-state-size": number;
}

interface ReadOptions {
  shared: boolean;
  signal: AbortSignal;
}

export async function readSnapshotTable(runner: Runner, file: string, o: ReadOptions): Promise<QemuSnapshot[]> {
  const args = ["info", ...(o.shared ? ["-U"] : []), "--output=json", file];
  const { stdout } = await runner.run("qemu-img", args, { signal: o.signal });
  let info: { snapshots?: InfoSnapshot[]; format?: string };
  try {
    info = JSON.parse(stdout) as typeof info;
  } catch (e) {
    throw new BackendError("qemu_img_output", `qemu-img info on ${file} did not print JSON`, { cause: e });
  }
  if (info.format !== "qcow2")
    throw new UserError("not_qcow2", `${file} is a ${info.format ?? "unknown"} image, not qcow2: internal snapshots need a qcow2 file`);
  return fromInfoSnapshots(info.snapshots ?? []);
}

export function fromInfoSnapshots(list: InfoSnapshot[]): QemuSnapshot[] {
  return list.map((s) => ({
    name: s.name,
    createdAt: s["date-sec"] * 1000 + Math.floor(s["date-nsec"] / 1_000_000),
    vmStateSize: s["vm-state-size"],
  }));
}

/**
 * create's reads (is the tag free? what was recorded?): a file on this machine is read straight from its
 * header, since a qemu-img process costs about what the snapshot does; a remote one, or one the fast path
 * is unsure of, is read by qemu-img. Lock detection is not lost: the write that follows (qemu-img -c
 * without -U) still fails on a file a running VM holds.
 */
export async function quickSnapshotTable(runner: Runner, file: string, o: ReadOptions & { local: boolean }): Promise<QemuSnapshot[]> {
  return (o.local ? await readQcow2Snapshots(file) : null) ?? readSnapshotTable(runner, file, o);
}

export async function checkImage(runner: Runner, file: string, o: ReadOptions): Promise<QemuCheck> {
  const args = ["check", ...(o.shared ? ["-U"] : []), "--output=json", file];
  try {
    await runner.run("qemu-img", args, { signal: o.signal });
    return { ok: true, problems: [] };
  } catch (e) {
    if (!(e instanceof BackendError) || e.code !== "command_failed" || isLocked(e)) throw e;
    const problem = checkProblem(e);
    return problem ? { ok: false, problems: [problem] } : { ok: true, problems: [] };
  }
}

// Exit 2 (corruptions) and 3 (leaks) still print the counts as JSON on stdout. Leaked clusters only waste
// space (qemu-img's own words: "not harmful"), so they are no problem; anything unreadable is qemu-img's line.
function checkProblem(e: BackendError): string | null {
  const stdout = (e.cause as { stdout?: unknown } | undefined)?.stdout;
  let r: { corruptions?: number; leaks?: number; "check-errors"?: number };
  try {
    r = JSON.parse(String(stdout)) as typeof r;
  } catch {
    return e.message;
  }
  const found = [["corruptions", r.corruptions], ["check errors", r["check-errors"]]] as const;
  const bad = found.filter(([, n]) => (n ?? 0) > 0).map(([what, n]) => `${n} ${what}`);
  return bad.length ? `qemu-img check found ${bad.join(", ")}` : null;
}

const LOCKED = /Failed to get (shared )?"write" lock/;

/** qemu-img refused because another process (a running QEMU) holds the image's lock. */
export function isLocked(e: unknown): boolean {
  return e instanceof BackendError && (LOCKED.test(e.message) || LOCKED.test(e.stderrTail));
}

/** The snapshot names of DESIGN.md are safe, but a tag qemu-img could read as an option never reaches it. */
export function assertTag(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UserError("bad_name", `"${name}" cannot be a qcow2 snapshot tag: use letters, digits, '.', '_' or '-'`);
}
