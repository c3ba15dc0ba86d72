import { UserError } from "../errors.ts";

// `--keep last=N,hourly=N,daily=N,weekly=N,monthly=N,yearly=N[,parents=prune]`: restic's
// `forget --keep-*` counts (see apply-policy.ts), plus whether parents of other snapshots may go.
// Stored in the ledger as JSON, so it is a plain object of numbers and one string.

export interface KeepPolicy {
  last: number;
  hourly: number;
  daily: number;
  weekly: number;
  monthly: number;
  yearly: number;
  parents: "keep" | "prune";
}

export type KeepRule = "last" | "hourly" | "daily" | "weekly" | "monthly" | "yearly";
/** restic's bucket order; also the canonical text order. */
export const KEEP_RULES: readonly KeepRule[] = ["last", "hourly", "daily", "weekly", "monthly", "yearly"];

export const KEEP_HELP =
  "--keep last=N,hourly=N,daily=N,weekly=N,monthly=N,yearly=N (any of them, at least one above 0, e.g. daily=7,weekly=4,monthly=6; add parents=prune to let parents of other snapshots go)";

const COUNT = /^\d{1,6}$/;
const MAX_COUNT = 999_999;

function bad(what: string): never {
  throw new UserError("bad_keep", `${what}; expected ${KEEP_HELP}`);
}

export function parseKeep(text: string): KeepPolicy {
  const p: KeepPolicy = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, parents: "keep" };
  const trimmed = text.trim();
  if (trimmed === "") bad("empty --keep");
  const seen = new Set<string>();
  for (const raw of trimmed.split(",")) {
    const part = raw.trim();
    if (part === "") bad(`empty item in --keep "${trimmed}"`);
    const eq = part.indexOf("=");
    if (eq < 0) bad(`"${part}" is not key=value`);
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (seen.has(key)) bad(`"${key}" is given twice`);
    seen.add(key);
    if (key === "parents") {
      if (value !== "keep" && value !== "prune") bad(`parents must be keep or prune, not "${value}"`);
      p.parents = value;
    } else if ((KEEP_RULES as readonly string[]).includes(key)) {
      if (!COUNT.test(value)) bad(`${key}=${value}: the count must be a whole number from 0 to ${MAX_COUNT}`);
      p[key as KeepRule] = Number(value);
    } else {
      bad(`unknown key "${key}"`);
    }
  }
  if (isEmpty(p)) bad(`--keep "${trimmed}" keeps nothing (restic refuses an empty policy too)`);
  return p;
}

/** Canonical text: non-zero counts in restic's order, then parents=prune if set. parseKeep(formatKeep(p)) equals p. */
export function formatKeep(p: KeepPolicy): string {
  const parts = KEEP_RULES.filter((r) => p[r] > 0).map((r) => `${r}=${p[r]}`);
  if (p.parents === "prune") parts.push("parents=prune");
  return parts.join(",");
}

/** Checks a policy that did not come from parseKeep (a ledger row's JSON, a caller's object). */
export function checkKeep(value: unknown): KeepPolicy {
  if (typeof value !== "object" || value === null) bad("a keep policy must be an object");
  const v = value as Record<string, unknown>;
  const p = { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, parents: "keep" } as KeepPolicy;
  for (const r of KEEP_RULES) {
    const n = v[r] ?? 0;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > MAX_COUNT) bad(`${r} must be a whole number from 0 to ${MAX_COUNT}`);
    p[r] = n;
  }
  const parents = v.parents ?? "keep";
  if (parents !== "keep" && parents !== "prune") bad(`parents must be keep or prune, not ${JSON.stringify(parents)}`);
  p.parents = parents;
  if (isEmpty(p)) bad("the keep policy keeps nothing (restic refuses an empty policy too)");
  return p;
}

function isEmpty(p: KeepPolicy): boolean {
  return KEEP_RULES.every((r) => p[r] === 0);
}
