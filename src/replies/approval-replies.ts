import type { ApprovalRow, CopyRow, OperationRow, ServerRow, SnapshotRow } from "../../db/types.ts";
import type { Reply } from "../reply.ts";
import { ago, size, utc } from "./format.ts";
import { formatAge, formatBytes } from "../duration.ts";
import { mention } from "./mention.ts";

export interface RequestView {
  approval: ApprovalRow;
  op: OperationRow;
  server: ServerRow;
  snapshot?: SnapshotRow;
  action: string; // "restore demo/nightly" or "delete --subtree demo/nightly"
  overwrites: string; // what will change
  notes?: string[]; // more to know before deciding (restore: the driver's notes, e.g. "--target / writes over the root…")
  bytes?: number | null; // what the work writes (restore: the uncompressed size), shown rather than the stored size
  now: number;
  /** restore --from: the copy that is read, on its target. */
  copy?: CopyRow;
}

/** The message in the channel asking a second person to decide. */
export function approvalRequest(v: RequestView): Reply {
  const s = v.snapshot;
  const about: Array<[string, string]> = s
    ? [
        ["snapshot", `${s.server}/${s.name}, taken ${utc(s.created_at)} (${ago(v.now, s.created_at)})`],
        ["size", sizeField(v.bytes, s.size)],
        // From a copy, the local snapshot's state is context, not what is read.
        [v.copy ? "local snapshot" : "verification", s.verified_at ? `${s.state}, last verified ${ago(v.now, s.verified_at)}` : `${s.state}, never verified`],
      ]
    : [];
  const c = v.copy;
  if (c) about.push(["reads", `the copy on ${c.target}: ${c.state}, last verified ${c.verified_at ? ago(v.now, c.verified_at) : "never"} (${c.location ?? "—"})`]);
  return {
    visibility: "channel",
    tone: "info",
    title: `Approval needed: ${v.action} (asked by ${mention(v.op.requested_by)}, approval #${v.approval.id})`,
    fields: [
      ["will change", v.overwrites],
      ...about,
      ["asked by", mention(v.op.requested_by)],
      ["expires", `${utc(v.approval.expires_at)} (in ${formatAge(v.approval.expires_at - v.now)})`],
    ],
    lines: [...(v.notes ?? []), "An approver other than the requester decides."],
    buttons: [
      { label: "Approve", command: `approve ${v.approval.id}`, style: "primary" },
      { label: "Deny", command: `deny ${v.approval.id}`, style: "danger" },
    ],
  };
}

/** The bytes the work writes, with what storage holds beside it when that differs (compressed archives). */
function sizeField(bytes: number | null | undefined, stored: number | null): string {
  if (bytes === undefined || bytes === null) return size(stored);
  return stored === null || stored === bytes ? formatBytes(bytes) : `${formatBytes(bytes)} (${formatBytes(stored)} stored)`;
}

export function deniedApproval(a: ApprovalRow, op: OperationRow, action: string): Reply {
  return {
    visibility: "channel",
    tone: "error",
    title: `${action} denied by ${mention(a.decided_by ?? "")} (asked by ${mention(op.requested_by)}, approval #${a.id})`,
    lines: ["Nothing was changed."],
    replaces: true,
  };
}

/** How an operation awaiting approval is named to people: the command that asked for it. */
export function actionOf(op: OperationRow): string {
  if (op.kind === "hostkeys_regen") return `hostkeys regen ${op.server}`;
  if (op.args?.revert === true) return `revert ${op.server}`; // a restore of its current snapshot, asked as revert
  const from = typeof op.args?.from === "string" ? ` from the copy on ${op.args.from}` : "";
  return `${op.kind}${op.args?.subtree ? " --subtree" : ""} ${op.server}/${String(op.args?.snapshot ?? "")}${from}`;
}

export function expiredApproval(a: ApprovalRow, op: OperationRow, ttl: string): Reply {
  const what = actionOf(op);
  return {
    visibility: "channel",
    tone: "error",
    title: `Approval request expired: ${what} (asked by ${mention(op.requested_by)}, approval #${a.id})`,
    lines: [`Nobody decided within ${ttl}; nothing was changed. Ask again with: ${what}`],
  };
}

/** `approvals`: the requests still waiting for a decision, oldest first, with the commands that decide them. */
export function pendingApprovalsList(items: Array<{ approval: ApprovalRow; op: OperationRow }>, now: number): Reply {
  if (items.length === 0) return { visibility: "ephemeral", tone: "info", title: "No pending approvals" };
  return {
    visibility: "ephemeral",
    tone: "info",
    title: `${items.length} pending approval(s)`,
    table: {
      columns: ["id", "what", "asked by", "asked", "expires"],
      rows: items.map(({ approval: a, op }) => [
        String(a.id),
        actionOf(op),
        mention(a.requested_by),
        `${utc(a.created_at)} (${ago(now, a.created_at)})`,
        `${utc(a.expires_at)} (in ${formatAge(a.expires_at - now)})`,
      ]),
    },
    lines: ["Decide with approve <id> or deny <id> (approvers; never your own request)."],
  };
}
