import { UserError } from "../../errors.ts";

// Part files stay small enough for any filesystem and copy tool, large enough not to flood a folder.
export const DEFAULT_PART_SIZE = 1024 ** 3;
export const MIN_PART_SIZE = 4 * 1024;
export const MAX_PART_SIZE = 1024 ** 4;

const SIZE = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(i)?(B)?|(B))?$/i;
const POWER = { K: 1, M: 2, G: 3, T: 4 } as const;

/**
 * "64KiB", "512M", "1GiB", "2GB" or a number of bytes. Like dd and tar, a bare K/M/G is binary; only an
 * explicit "KB"/"MB"/"GB" (no "i") is decimal, as disk vendors count.
 */
export function parsePartSize(value: string | number | undefined): number {
  if (value === undefined) return DEFAULT_PART_SIZE;
  const bytes = typeof value === "number" ? value : textToBytes(value);
  if (!Number.isSafeInteger(bytes) || bytes < MIN_PART_SIZE || bytes > MAX_PART_SIZE)
    throw new UserError("bad_part_size", `part_size ${JSON.stringify(value)} is out of range: use a whole size between 4KiB and 1TiB, e.g. 1GiB`);
  return bytes;
}

function textToBytes(text: string): number {
  const m = SIZE.exec(text.trim());
  if (!m) throw new UserError("bad_part_size", `part_size "${text}" is not a size: use e.g. 1GiB, 512MiB, 64KiB or a number of bytes`);
  const n = Number(m[1]);
  const unit = m[2]?.toUpperCase() as keyof typeof POWER | undefined;
  if (!unit) return n;
  const decimal = m[4] !== undefined && m[3] === undefined;
  return Math.round(n * (decimal ? 1000 : 1024) ** POWER[unit]);
}
