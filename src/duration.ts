import { UserError } from "./errors.ts";

// LXD's expiry syntax: space-separated tokens, M minutes, H hours, d days, w weeks, m months, y years.
const TOKEN = /^(\d+)([MHdwmy])$/;
// A century is far beyond any expiry or timeout, and keeps every date computed from it valid.
const MAX_YEARS = 100;
const MINUTES_PER = { minutes: 1, hours: 60, days: 1440, weeks: 10_080, months: 43_830, years: 525_960 } as const;
export const DURATION_HELP = "a duration like 30M, 2H, 3d, 4w, 5m or 1y (M minutes, m months), space-separated";

export interface Duration {
  minutes: number;
  hours: number;
  days: number;
  weeks: number;
  months: number;
  years: number;
}

export function parseDuration(text: string): Duration {
  const d: Duration = { minutes: 0, hours: 0, days: 0, weeks: 0, months: 0, years: 0 };
  const tokens = text.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw new UserError("bad_duration", `empty duration: expected ${DURATION_HELP}`);
  for (const t of tokens) {
    const m = TOKEN.exec(t);
    if (!m) throw new UserError("bad_duration", `"${t}" is not a duration: expected ${DURATION_HELP}`);
    const n = Number(m[1]);
    const unit = m[2] as "M" | "H" | "d" | "w" | "m" | "y";
    const key = ({ M: "minutes", H: "hours", d: "days", w: "weeks", m: "months", y: "years" } as const)[unit];
    d[key] += n;
  }
  const minutes = (Object.keys(MINUTES_PER) as Array<keyof Duration>).reduce((sum, k) => sum + d[k] * MINUTES_PER[k], 0);
  if (minutes > MAX_YEARS * MINUTES_PER.years)
    throw new UserError("bad_duration", `"${text.trim()}" is too large: a duration can be at most ${MAX_YEARS}y`);
  return d;
}

/** An expiry (create --expiry, schedule --expiry): a duration of at least a minute. */
export function parseExpiry(text: string): Duration {
  const d = parseDuration(text);
  if (addDuration(0, d) < 60_000) throw new UserError("bad_expiry", `an expiry must be at least 1M: e.g. --expiry 7d`);
  return d;
}

/** Adds a duration to a time, calendar-aware for months and years (as Go's AddDate, which LXD uses). */
export function addDuration(fromMs: number, d: Duration): number {
  const t = new Date(fromMs);
  if (d.years || d.months) t.setUTCMonth(t.getUTCMonth() + d.months + 12 * d.years);
  return t.getTime() + ((d.weeks * 7 + d.days) * 24 * 60 + d.hours * 60 + d.minutes) * 60_000;
}

/** Fixed-length durations only (timeouts, TTLs): months and years are refused. */
export function durationMs(d: Duration): number {
  if (d.months || d.years) throw new UserError("bad_duration", "months and years are not allowed here: use M, H, d or w");
  return addDuration(0, d);
}

export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m}m`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.round(h / 24)}d`;
}

/** An exact span for thresholds: 90 minutes is "1h30m", not "2h"; whole days from 2 days up ("4d"). */
export function formatSpan(ms: number): string {
  const m = Math.round(ms / 60_000);
  if (m % 1440 === 0 && m >= 2880) return `${m / 1440}d`;
  if (m < 60) return `${m}m`;
  return m % 60 === 0 ? `${m / 60}h` : `${Math.floor(m / 60)}h${m % 60}m`;
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** A timeout from the config: a number of seconds, or a fixed-length duration. */
export function timeoutMs(value: number | string): number {
  return typeof value === "number" ? Math.round(value * 1000) : durationMs(parseDuration(value));
}
