import type { Reply } from "../reply.ts";
import type { ScanReport } from "../engine/host-keys/scan-report.ts";

/** "a", "a and b", "a, b and c". */
export const andList = (names: string[]): string =>
  names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;

/** hostkeys scan: each key on more than one machine with the server to regenerate (the one the alert names). */
export function hostKeyScanReply(r: ScanReport): Reply {
  const regen = (names: string[]) => names.map((n) => `hostkeys regen ${n}`).join(", ");
  const lines = r.shared.map((g) => `${andList(g.servers)} share ${g.type} ${g.fingerprint}: regenerate with ${regen(g.regenerate)}`);
  for (const m of r.sameMachine)
    lines.push(`${andList(m)} are one machine (the same SSH endpoint): one host key is expected, nothing to regenerate`);
  if (r.skipped.length) lines.push(`not scanned: ${r.skipped.map((s) => `${s.server} (${s.why})`).join("; ")}`);
  return {
    visibility: "ephemeral",
    tone: r.shared.length ? "error" : "success",
    title: r.shared.length
      ? `${r.shared.length} host key(s) shared between servers (${r.scanned.length} scanned)`
      : `No shared host keys among ${r.scanned.length} server(s) scanned`,
    lines,
  };
}
