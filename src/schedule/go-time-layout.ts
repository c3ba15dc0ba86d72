// Go's time.Format layouts ("2006-01-02_15-04-05"), rendered in UTC, because LXD's snapshots.pattern
// formats `creation_date` with them. The tokenizer follows Go's nextStdChunk (src/time/format.go):
// the same greedy rules decide what is a token and what is a literal, so a layout renders as Go would.

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

interface Fields {
  year: number;
  month: number; // 1-12
  day: number;
  yday: number; // 1-366
  weekday: number; // 0 = Sunday
  hour: number;
  minute: number;
  second: number;
  nanos: number;
}

type Render = (f: Fields) => string;

const pad = (n: number, width: number, fill = "0"): string => String(n).padStart(width, fill);
const hour12 = (h: number): number => (h % 12 === 0 ? 12 : h % 12);
const isLower = (c: string | undefined): boolean => c !== undefined && c >= "a" && c <= "z";
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= "0" && c <= "9";

// Fixed tokens, longest first where one is a prefix of another (as Go checks them).
const FIXED: ReadonlyArray<readonly [string, Render]> = [
  ["January", (f) => MONTHS[f.month - 1]!],
  ["Monday", (f) => DAYS[f.weekday]!],
  ["MST", () => "UTC"],
  ["2006", (f) => pad(f.year, 4)],
  ["002", (f) => pad(f.yday, 3)],
  ["01", (f) => pad(f.month, 2)],
  ["02", (f) => pad(f.day, 2)],
  ["03", (f) => pad(hour12(f.hour), 2)],
  ["04", (f) => pad(f.minute, 2)],
  ["05", (f) => pad(f.second, 2)],
  ["06", (f) => pad(f.year % 100, 2)],
  ["15", (f) => pad(f.hour, 2)],
  ["__2", (f) => pad(f.yday, 3, " ")],
  ["_2", (f) => pad(f.day, 2, " ")],
  ["PM", (f) => (f.hour >= 12 ? "PM" : "AM")],
  ["pm", (f) => (f.hour >= 12 ? "pm" : "am")],
  ["-070000", () => "+000000"],
  ["-07:00:00", () => "+00:00:00"],
  ["-0700", () => "+0000"],
  ["-07:00", () => "+00:00"],
  ["-07", () => "+00"],
  ["Z070000", () => "Z"],
  ["Z07:00:00", () => "Z"],
  ["Z0700", () => "Z"],
  ["Z07:00", () => "Z"],
  ["Z07", () => "Z"],
  ["1", (f) => String(f.month)],
  ["2", (f) => String(f.day)],
  ["3", (f) => String(hour12(f.hour))],
  ["4", (f) => String(f.minute)],
  ["5", (f) => String(f.second)],
];

/** One token at position i, or null if the character there is a literal. */
function tokenAt(layout: string, i: number): { len: number; render: Render } | null {
  const rest = layout.slice(i);
  // "_2006" is a literal "_" followed by the year, as in Go.
  if (rest.startsWith("_2006")) return null;
  // "Jan" and "Mon" are tokens only when not followed by a lower-case letter ("Janet" is text).
  for (const [word, names] of [["Jan", MONTHS], ["Mon", DAYS]] as const) {
    if (rest.startsWith(word) && !rest.startsWith(word === "Jan" ? "January" : "Monday") && !isLower(rest[3])) {
      return { len: 3, render: (f) => names[word === "Jan" ? f.month - 1 : f.weekday]!.slice(0, 3) };
    }
  }
  const frac = fractionAt(layout, i);
  if (frac) return frac;
  for (const [token, render] of FIXED) if (rest.startsWith(token)) return { len: token.length, render };
  return null;
}

/** ".000" / ",000" (fixed digits) and ".999" (trailing zeros trimmed): only if no digit follows. */
function fractionAt(layout: string, i: number): { len: number; render: Render } | null {
  const sep = layout[i];
  const digit = layout[i + 1];
  if ((sep !== "." && sep !== ",") || (digit !== "0" && digit !== "9")) return null;
  let j = i + 1;
  while (layout[j] === digit) j++;
  if (isDigit(layout[j])) return null;
  const n = Math.min(j - i - 1, 9);
  return {
    len: j - i,
    render: (f) => {
      let digits = pad(f.nanos, 9).slice(0, n);
      if (digit === "9") digits = digits.replace(/0+$/, "");
      return digits === "" ? "" : sep + digits;
    },
  };
}

function fieldsOf(ms: number): Fields {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  return {
    year,
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    yday: Math.floor((Date.UTC(year, d.getUTCMonth(), d.getUTCDate()) - Date.UTC(year, 0, 1)) / 86_400_000) + 1,
    weekday: d.getUTCDay(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    nanos: (((ms % 1000) + 1000) % 1000) * 1_000_000,
  };
}

/** Formats a UTC time the way Go's `time.Time.Format(layout)` does for a UTC time. */
export function formatGoTime(layout: string, ms: number): string {
  const f = fieldsOf(ms);
  let out = "";
  for (let i = 0; i < layout.length; ) {
    const tok = tokenAt(layout, i);
    if (tok) {
      out += tok.render(f);
      i += tok.len;
    } else {
      out += layout[i];
      i++;
    }
  }
  return out;
}
