// Finding fire times of a CronSpec. Searches go day by day in UTC, jumping over months the spec does
// not allow and, when only the day of the month decides, straight to its next allowed day: next and
// previous cost a few dozen steps even for "0 0 29 2 *". Days are counted from 1970-01-01 and turned
// into dates with H. Hinnant's civil-from-days arithmetic, without Date objects.
import { civilFromDays } from "../civil-date.ts";
import type { CronSpec } from "./cron-spec.ts";

const MONTH_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const daysInMonth = (y: number, m: number): number => (m === 2 && !isLeap(y) ? 28 : MONTH_DAYS[m]!);

function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  return era * 146097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719468;
}

// civil() writes its result here: searches visit many days, so no tuple is allocated per day.
let cy = 1970;
let cm = 1;
let cd = 1;

function civil(days: number): void {
  const ymd = civilFromDays(days);
  cy = Math.floor(ymd / 10_000);
  cm = Math.floor(ymd / 100) % 100;
  cd = ymd % 100;
}

function dayMatches(s: CronSpec, dom: number, day: number): boolean {
  const domOk = s.days.has[dom]!;
  const dowOk = s.weekdays.has[(((day + 4) % 7) + 7) % 7]!; // 1970-01-01 was a Thursday
  return s.days.star || s.weekdays.star ? domOk && dowOk : domOk || dowOk;
}

/** Whether the spec fires in this minute (minutes since the epoch, UTC). */
export function specMatches(s: CronSpec, minute: number): boolean {
  const day = Math.floor(minute / 1440);
  const mod = minute - day * 1440;
  civil(day);
  return s.months.has[cm]! && dayMatches(s, cd, day) && s.hours.has[Math.floor(mod / 60)]! && s.minutes.has[mod % 60]!;
}

/** First firing minute >= from, searching at most maxDays days; null if none. */
export function nextFire(s: CronSpec, from: number, maxDays: number): number | null {
  let day = Math.floor(from / 1440);
  let mod = from - day * 1440;
  // The date of `day`; d > 28 means "recompute" (every month has a 28th, so d + 1 <= 28 stays valid).
  let y = 0;
  let m = 0;
  let d = 99;
  for (const limit = day + maxDays; day <= limit; day++, d++, mod = 0) {
    if (d > 28) {
      civil(day);
      y = cy;
      m = cm;
      d = cd;
    }
    if (!s.months.has[m]) {
      const nm = s.months.next[m + 1]!; // to the 1st of the next allowed month
      day = (nm > 0 ? daysFromCivil(y, nm, 1) : daysFromCivil(y + 1, s.months.first, 1)) - 1;
      d = 99;
    } else if (!dayMatches(s, d, day)) {
      if (!s.weekdays.star) continue;
      // Only the day of the month decides: to its next allowed day, or to the month's last day.
      const next = s.days.next[d + 1]!;
      day += Math.min(next > 0 ? next : 99, daysInMonth(y, m) + 1) - d - 1;
      d = 99;
    } else {
      const h = Math.floor(mod / 60);
      const mi = s.hours.has[h] ? s.minutes.next[mod % 60]! : -1;
      if (mi >= 0) return day * 1440 + h * 60 + mi;
      const h2 = s.hours.next[h + 1]!;
      if (h2 >= 0) return day * 1440 + h2 * 60 + s.minutes.first;
    }
  }
  return null;
}

/** Last firing minute <= at, searching at most maxDays days back; null if none. */
export function previousFire(s: CronSpec, at: number, maxDays: number): number | null {
  let day = Math.floor(at / 1440);
  let mod = at - day * 1440;
  let y = 0;
  let m = 0;
  let d = 0; // d < 1 means "recompute"
  for (const limit = day - maxDays; day >= limit; day--, d--, mod = 1439) {
    if (d < 1) {
      civil(day);
      y = cy;
      m = cm;
      d = cd;
    }
    if (!s.months.has[m]) {
      const pm = s.months.prev[m - 1]!; // to the last day of the previous allowed month
      const [py, pmo] = pm > 0 ? [y, pm] : [y - 1, s.months.last];
      day = daysFromCivil(py, pmo, daysInMonth(py, pmo)) + 1;
      d = 0;
    } else if (!dayMatches(s, d, day)) {
      if (!s.weekdays.star) continue;
      day -= d - Math.max(s.days.prev[d - 1]!, 0) - 1; // to the previous allowed day, or the 1st
      d = 0;
    } else {
      const h = Math.floor(mod / 60);
      const mi = s.hours.has[h] ? s.minutes.prev[mod % 60]! : -1;
      if (mi >= 0) return day * 1440 + h * 60 + mi;
      const h2 = h > 0 ? s.hours.prev[h - 1]! : -1;
      if (h2 >= 0) return day * 1440 + h2 * 60 + s.minutes.last;
    }
  }
  return null;
}
