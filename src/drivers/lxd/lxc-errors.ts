import { BackendError } from "../../errors.ts";

// lxc reports every failure as one "Error: …" line on stderr. We keep LXD's own words and put a code and
// a plain reason in front, so the chat reply says what to do and the ledger keeps what LXD said.

export type LxcErrorCode =
  | "instance_missing"
  | "snapshot_missing"
  | "remote_unreachable"
  | "disk_full"
  | "already_exists"
  | "not_found"
  | "command_failed";

const MAX_MESSAGE = 600;

// Most specific first: "Failed checking instance snapshot exists …: Instance not found" is a missing instance.
const RULES: Array<[LxcErrorCode, RegExp]> = [
  ["disk_full", /no space left on device|disk quota exceeded|quota exceeded|not enough space/i],
  ["snapshot_missing", /InstanceSnapshot not found|Snapshot \S+ does not exist/i],
  ["instance_missing", /\bInstance not found/i],
  [
    "remote_unreachable",
    /Unable to connect|connection refused|not authorized|forbidden|The remote "[^"]*" doesn't exist|x509|certificate|no such host|i\/o timeout|TLS handshake|connection reset|network is unreachable/i,
  ],
  ["already_exists", /already exists/i],
  ["not_found", /not found/i],
];

/** LXD's message: from the last "Error: …" line to the end (rsync and friends add lines), else the last line. */
export function lxdMessage(stderr: string): string {
  const lines = stderr.split(/[\r\n]+/).map((l) => l.trim()).filter(Boolean); // progress lines end in \r
  const at = lines.map((l) => l.startsWith("Error:")).lastIndexOf(true);
  const text = at < 0 ? (lines.at(-1) ?? "") : lines.slice(at).join(" ").slice("Error:".length).trim();
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

export function classify(message: string): LxcErrorCode {
  return RULES.find(([, re]) => re.test(message))?.[0] ?? "command_failed";
}

function reason(code: LxcErrorCode, conf: string | undefined): string {
  switch (code) {
    case "instance_missing":
      return "the instance does not exist";
    case "snapshot_missing":
      return "the snapshot does not exist";
    case "disk_full":
      return "the storage pool is full";
    case "already_exists":
      return "it already exists";
    case "not_found":
      return "not found";
    case "remote_unreachable":
      return (
        "an LXD remote cannot be reached or does not trust snapbot: check it is up and listed by " +
        `\`lxc remote list\`${conf ? ` (LXD_CONF=${conf})` : ""}, and set up trust with \`lxc remote add <name> <address>\` as the bot's user`
      );
    default:
      return "lxc reported an error";
  }
}

/** The BackendError for a failed lxc call: `<what> failed: <reason>. LXD: <LXD's message>`. */
export function lxcError(what: string, err: unknown, conf: string | undefined): Error {
  if (!(err instanceof BackendError)) return err instanceof Error ? err : new Error(String(err));
  // Timeouts, cancels and a missing lxc already say the right thing; only name the operation.
  if (err.code !== "command_failed") return new BackendError(err.code, `${what}: ${err.message}`, { cause: err, stderrTail: err.stderrTail });
  const said = lxdMessage(err.stderrTail) || err.message;
  const code = classify(said);
  return new BackendError(code, `${what} failed: ${reason(code, conf)}. LXD: ${said}`, { cause: err, stderrTail: err.stderrTail });
}
