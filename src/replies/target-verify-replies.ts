import type { Button, Reply } from "../reply.ts";
import { targetVerifyLine, type TargetVerified } from "../engine/copies/target-verify-line.ts";
import { LOCAL_TARGET } from "../storage/storage-targets.ts";
import { formatAge } from "../duration.ts";
import { clip } from "./format.ts";

// verify --target's result: the audit log's line as the title, then one line per copy that is broken, could not be
// read or was skipped, and a button to copy each broken copy again. Pure.

const SHOWN = 20;

export function targetVerifiedReply(v: TargetVerified, opId: number, tookMs: number): Omit<Reply, "visibility"> {
  const lines = [
    ...v.broken.map((b) => `${b.place}: ${clip(b.problems.slice(0, 3).join("; "), 300)}`),
    ...v.unreadable.map((u) => `${u.place} could not be read: ${clip(u.error, 300)}`),
    ...v.busy.map((b) => `${b.place} skipped: ${clip(b.why, 300)}`),
  ];
  const copies = v.target === LOCAL_TARGET ? [] : v.broken.filter((b) => b.noun === "copy").slice(0, 3);
  const buttons: Button[] = copies.map((b) => ({ label: `Copy ${b.place} again`, command: `copy ${b.place} ${v.target}` }));
  return {
    tone: v.broken.length || v.unreadable.length ? "error" : v.busy.length ? "info" : "success",
    title: `${targetVerifyLine(v)} (operation #${opId}, ${formatAge(tookMs)})`,
    lines: lines.length > SHOWN ? [...lines.slice(0, SHOWN), `…and ${lines.length - SHOWN} more`] : lines,
    ...(buttons.length ? { buttons } : {}),
  };
}
