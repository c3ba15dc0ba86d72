// Cron schedules as LXD accepts them for snapshots.schedule (lxd validate.IsCron → robfig/cron v3
// ParseStandard): five fields, the aliases, or a comma-separated list of them (a union), in UTC.
// node-cron is not used here: it ANDs day-of-month and day-of-week, where cron ORs them.
import { UserError } from "../errors.ts";
import { nextFire, previousFire, specMatches } from "./cron-search.ts";
import { CronFieldError, neverFires, parseSpec, type CronSpec } from "./cron-spec.ts";

export interface CronSchedule {
  readonly expression: string;
  /** Whether it fires in this minute (the time is truncated to the minute, UTC). */
  matches(minuteMs: number): boolean;
  /** The first fire time strictly after afterMs (minute aligned). */
  next(afterMs: number): number;
  /** The latest fire time <= atOrBeforeMs, null if none in the past ~5 years. */
  previous(atOrBeforeMs: number): number | null;
  /** The longest gap between consecutive fires among the next 16 after fromMs (stale-age defaults). */
  typicalIntervalMs(fromMs: number): number;
}

export interface CronOptions {
  /**
   * Spread the aliases over the day as LXD does: with a seed (e.g. the server name) @hourly fires at a
   * stable minute and @daily/@weekly/@monthly/@yearly at a stable hour and minute, @midnight at a stable
   * minute past 0:00. Without it they fire at 0 minutes past (0:00), as in robfig/cron and crontab.
   */
  spreadSeed?: string;
}

export const CRON_HELP = `five fields "<minute> <hour> <day> <month> <weekday>" like "0 3 * * *", or @hourly, @daily, @weekly, @monthly, @yearly`;

// {M} and {H} are the minute and hour: 0, or spread from CronOptions.spreadSeed.
const ALIASES: Record<string, string> = {
  "@yearly": "{M} {H} 1 1 *",
  "@annually": "{M} {H} 1 1 *",
  "@monthly": "{M} {H} 1 * *",
  "@weekly": "{M} {H} * * 0",
  "@daily": "{M} {H} * * *",
  "@midnight": "{M} 0 * * *",
  "@hourly": "{M} * * * *",
};

const MINUTE_MS = 60_000;
const NEXT_DAYS = 366 * 9; // Feb 29 can be 8 years away (2096 → 2104)
const PREVIOUS_DAYS = 366 * 5;
const TYPICAL_FIRES = 16;

class Schedule implements CronSchedule {
  constructor(
    readonly expression: string,
    private readonly specs: readonly CronSpec[],
  ) {}

  matches(minuteMs: number): boolean {
    const minute = Math.floor(minuteMs / MINUTE_MS);
    return this.specs.some((s) => specMatches(s, minute));
  }

  next(afterMs: number): number {
    const from = Math.floor(afterMs / MINUTE_MS) + 1;
    let best = Infinity;
    for (const s of this.specs) best = Math.min(best, nextFire(s, from, NEXT_DAYS) ?? Infinity);
    if (best === Infinity) throw new Error(`cron "${this.expression}" has no fire time after ${new Date(afterMs).toISOString()}`);
    return best * MINUTE_MS;
  }

  previous(atOrBeforeMs: number): number | null {
    const at = Math.floor(atOrBeforeMs / MINUTE_MS);
    let best = -Infinity;
    for (const s of this.specs) best = Math.max(best, previousFire(s, at, PREVIOUS_DAYS) ?? -Infinity);
    return best === -Infinity ? null : best * MINUTE_MS;
  }

  typicalIntervalMs(fromMs: number): number {
    let t = this.next(fromMs);
    let longest = 0;
    for (let i = 1; i < TYPICAL_FIRES; i++) {
      const n = this.next(t);
      longest = Math.max(longest, n - t);
      t = n;
    }
    return longest;
  }
}

/** Parses a schedule; throws UserError("bad_cron") with one line saying what is wrong and what to type. */
export function parseCron(text: string, options: CronOptions = {}): CronSchedule {
  const expression = text.trim();
  const fail = (what: string): UserError => {
    const shown = expression.length > 80 ? `${expression.slice(0, 80)}…` : expression;
    return new UserError("bad_cron", `"${shown}": ${what}; expected ${CRON_HELP}`);
  };
  if (expression === "") throw new UserError("bad_cron", `empty schedule: expected ${CRON_HELP}`);
  // LXD separates list entries with ", "; a bare "," next to an alias is accepted too ("@hourly,@daily").
  // A "," inside a field ("0 0,12 * * *") is a cron list, not a schedule list.
  const entries = expression.split(/,\s+|(?<=@[A-Za-z]+)\s*,\s*|\s*,\s*(?=@)/);
  const specs = entries.map((entry) => {
    try {
      return parseEntry(entry.trim(), options);
    } catch (e) {
      if (e instanceof CronFieldError) throw fail(entries.length > 1 ? `in "${entry.trim()}", ${e.message}` : e.message);
      throw e;
    }
  });
  return new Schedule(expression, specs);
}

function parseEntry(entry: string, options: CronOptions): CronSpec {
  if (entry === "") throw new CronFieldError("an entry of the list is empty");
  if (entry.startsWith("@")) return parseSpec(aliasFields(entry.toLowerCase(), options));
  const fields = entry.split(/\s+/);
  if (fields.length !== 5) {
    const why = fields.length === 6 ? " (seconds are not supported)" : "";
    throw new CronFieldError(`has ${fields.length} field${fields.length === 1 ? "" : "s"}, not 5${why}`);
  }
  const spec = parseSpec(fields);
  const never = neverFires(spec);
  if (never) throw new CronFieldError(`never fires: ${never}`);
  return spec;
}

function aliasFields(alias: string, options: CronOptions): string[] {
  if (alias === "@startup") throw new CronFieldError("snapbot has no start-up trigger, use a time schedule");
  if (alias === "@never") throw new CronFieldError(`to stop scheduled snapshots use "unschedule <server>"`);
  if (alias.startsWith("@every")) throw new CronFieldError(`@every is not supported (LXD does not accept it either): use steps like "*/30 * * * *"`);
  const template = ALIASES[alias];
  if (!template) throw new CronFieldError(`unknown alias ${alias}`);
  const [minute, hour] = spread(options.spreadSeed);
  return template.replace("{M}", String(minute)).replace("{H}", String(hour)).split(" ");
}

/** A stable minute and hour from a seed (FNV-1a), or 0:00 without one. */
function spread(seed: string | undefined): [minute: number, hour: number] {
  if (seed === undefined) return [0, 0];
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193) >>> 0;
  return [h % 60, Math.floor(h / 60) % 24];
}
