import { open, type FileHandle } from "node:fs/promises";
import type { QemuSnapshot } from "./qemu-backend.ts";

// The snapshot table of a local qcow2 file read straight from its header (QEMU's docs/interop/qcow2.txt,
// "Snapshots"), for create's two reads (is the tag free? what did QEMU record?). `qemu-img info` costs a
// process start, about as much as `qemu-img snapshot -c` itself, so two of them tripled a create. This is a
// fast path only: whatever it is unsure of (not qcow2, not a file here, a table that does not parse) gives
// null, and the caller asks qemu-img, whose answer and error wording stay the authority.

const MAGIC = 0x514649fb; // "QFI\xfb"
const MAX_SNAPSHOTS = 65536; // QCOW_MAX_SNAPSHOTS
const MAX_TABLE_BYTES = 64 << 20; // QCOW_MAX_SNAPSHOTS_SIZE
const ENTRY_HEAD = 40; // the fixed part of a table entry, before its extra data, id and name

/** The table as `qemu-img info` reports it (same order, names, dates, VM-state sizes), or null when unsure. */
export async function readQcow2Snapshots(file: string): Promise<QemuSnapshot[] | null> {
  let fh: FileHandle;
  try {
    fh = await open(file, "r");
  } catch {
    return null;
  }
  try {
    const head = await readAt(fh, 0, 72);
    if (head.length < 72 || head.readUInt32BE(0) !== MAGIC) return null;
    const version = head.readUInt32BE(4);
    const count = head.readUInt32BE(60);
    const offset = head.readBigUInt64BE(64);
    if ((version !== 2 && version !== 3) || count > MAX_SNAPSHOTS || offset > BigInt(Number.MAX_SAFE_INTEGER)) return null;
    if (count === 0) return [];
    return await readEntries(fh, Number(offset), count);
  } catch (e) {
    return null;
  } finally {
    await fh.close();
  }
}

async function readEntries(fh: FileHandle, offset: number, count: number): Promise<QemuSnapshot[] | null> {
  let buf = await readAt(fh, offset, Math.min(MAX_TABLE_BYTES, count * 128));
  const out: QemuSnapshot[] = [];
  for (let at = 0; out.length < count; ) {
    // Grow the buffer when an entry runs past it (long names, large extra data); short reads mean a torn file.
    const need = (n: number) => at + n <= buf.length;
    while (!need(ENTRY_HEAD) || !need(entrySize(buf, at))) {
      if (buf.length >= MAX_TABLE_BYTES) return null;
      const more = await readAt(fh, offset, Math.min(MAX_TABLE_BYTES, buf.length * 2));
      if (more.length <= buf.length) return null;
      buf = more;
    }
    out.push(entryAt(buf, at));
    at += Math.ceil(entrySize(buf, at) / 8) * 8; // entries are padded to 8 bytes (the last one's padding may be past the file's end)
  }
  return out;
}

function entrySize(buf: Buffer, at: number): number {
  if (at + ENTRY_HEAD > buf.length) return ENTRY_HEAD;
  return ENTRY_HEAD + buf.readUInt32BE(at + 36) + buf.readUInt16BE(at + 12) + buf.readUInt16BE(at + 14);
}

function entryAt(buf: Buffer, at: number): QemuSnapshot {
  const extra = buf.readUInt32BE(at + 36);
  const idLen = buf.readUInt16BE(at + 12);
  const nameLen = buf.readUInt16BE(at + 14);
  const nameAt = at + ENTRY_HEAD + extra + idLen;
  // QEMU reads the 64-bit VM-state size from the extra data when it is there (images of QEMU 1.1+).
  const vmState = extra >= 8 ? Number(buf.readBigUInt64BE(at + ENTRY_HEAD)) : buf.readUInt32BE(at + 32);
  return {
    name: buf.toString("utf8", nameAt, nameAt + nameLen),
    createdAt: buf.readUInt32BE(at + 16) * 1000 + Math.floor(buf.readUInt32BE(at + 20) / 1_000_000),
    vmStateSize: vmState,
  };
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
