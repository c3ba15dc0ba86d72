import type { CopyRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { Asker, EngineDeps } from "../deps.ts";
import type { OperationHandle } from "../operations/run-operation.ts";
import { copyToTarget } from "./copy-snapshot.ts";
import { verifyCopy, type CopyVerified } from "./copy-verify.ts";
import { planTargetCopies, pruneAllTargets, pruneTargetCopies, type TargetPrune } from "./copy-retention.ts";
import { copiesAfterCreate, type StartedCopy } from "./auto-copies.ts";
import { formatKeep, parseKeep } from "../../retention/keep-policy.ts";
import type { RetentionPlan } from "../../retention/apply-policy.ts";
import { verifyTarget, type TargetVerified, type TargetVerifyInput } from "./verify-target.ts";
import type { VerifyOptions } from "../../drivers/driver.ts";

// Copies of stored snapshots on storage targets (issue 12), as the engine offers them: copy, verify --from, the
// `copies:` after each create, and each target's own retention. restore --from is an approved restore
// (approvals/approved-work.ts) reading through copy-source.ts.

export interface TargetPlan {
  target: string;
  keep: string;
  plan: RetentionPlan;
}

export function createCopies(deps: EngineDeps) {
  return {
    /** copy <server>/<snap> <target>. */
    copy: (server: ServerRow, snap: SnapshotRow, target: string, asker: Asker): Promise<OperationHandle<CopyRow>> => copyToTarget(deps, server, snap, target, asker),
    /** verify <server>/<snap> --from <target> [--full]. */
    verify: (server: ServerRow, snap: SnapshotRow, target: string, asker: Asker, opts: VerifyOptions = {}): Promise<OperationHandle<CopyVerified>> =>
      verifyCopy(deps, server, snap, target, asker, opts),
    /** verify --target <t> [--slice n/m]: every copy (and stored snapshot) there, or one slice, re-read. */
    verifyTarget: (input: TargetVerifyInput, asker: Asker): Promise<OperationHandle<TargetVerified>> => verifyTarget(deps, input, asker),
    /** After a create commits: the server's `copies:` targets, each started as its own operation. */
    afterCreate: (server: ServerRow, snap: SnapshotRow, asker: Asker): Promise<StartedCopy[]> => copiesAfterCreate(deps, server, snap, asker),
    /** prune --dry-run: what each target's keep would remove of the server's copies. */
    async plans(server: ServerRow): Promise<TargetPlan[]> {
      const out: TargetPlan[] = [];
      for (const t of withKeep(deps)) out.push({ target: t.name, keep: formatKeep(parseKeep(t.keep!)), plan: (await planTargetCopies(deps, t, server))! });
      return out;
    },
    /** prune <server>: each target's keep applied to the server's copies there. */
    async prune(server: ServerRow, asker: Asker): Promise<TargetPrune[]> {
      const out: TargetPrune[] = [];
      for (const t of withKeep(deps)) {
        const done = await pruneTargetCopies(deps, t, server, asker);
        if (done) out.push(done);
      }
      return out;
    },
    /** The retention pass: every target's keep over every server with copies there; returns how many went. */
    pruneAll: (): Promise<number> => pruneAllTargets(deps),
    /** Whether any target has its own keep (prune has something to do on targets). */
    anyKeep: (): boolean => withKeep(deps).length > 0,
  };
}
export type Copies = ReturnType<typeof createCopies>;

const withKeep = (deps: EngineDeps) => deps.targets.names().map((n) => deps.targets.get(n)!).filter((t) => t.keep !== null);
