import type { CopyRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { LedgerRepos, LedgerTx } from "../../../db/ledger.ts";
import type { Clock } from "../../clock.ts";
import type { Asker, EngineDeps } from "../deps.ts";
import type { VerifyOptions, VerifyResult } from "../../drivers/driver.ts";
import { refuseFullVerify } from "../operations/snapshot-handle.ts";
import { runOperation, type OperationHandle } from "../operations/run-operation.ts";
import { copySource } from "./copy-source.ts";
import { copyLease } from "./stored-access.ts";
import { announceCopyVerify } from "./copy-alerts.ts";
import { readBack } from "./copy-snapshot.ts";

// verify <server>/<snap> --from <target>: every byte of the copy there re-read and hashed (--full: also read
// through as a restore would, decrypted and decompressed). A copy that fails is broken (never used to restore)
// and raises copy_failed; a broken one that verifies again is done.

export interface CopyVerified extends VerifyResult {
  target: string;
}

export async function verifyCopy(
  deps: EngineDeps,
  server: ServerRow,
  snap: SnapshotRow,
  from: string,
  asker: Asker,
  opts: VerifyOptions = {},
): Promise<OperationHandle<CopyVerified>> {
  if (opts.full) refuseFullVerify(deps.drivers.features(server), server);
  const src = await copySource(deps, snap, server, from, true);
  const ref = `${server.name}/${snap.name}`;
  const t = src.target.name;
  const full = opts.full === true;
  return runOperation<CopyVerified>(deps, {
    server,
    kind: "verify",
    label: `verify ${ref}${full ? " --full" : ""} --from ${t}`,
    ...asker,
    leaseKey: copyLease(server.name, snap.name, t),
    args: full ? { snapshot: snap.name, from: t, full } : { snapshot: snap.name, from: t },
    prepare: () => snap.id,
    work: async (ctx) => {
      const res = await readBack(src.driver, src.target, src.handle, ctx, full ? { full } : undefined);
      const result = `${res.ok ? `verified ${res.checkedBytes} bytes` : `broken: ${res.problems.join("; ")}`} on ${t}`;
      const commit = async (tx: LedgerTx) => {
        await record({ ledger: tx, clock: deps.clock }, src.copy, res);
        return { ...res, target: t };
      };
      return { result, commit };
    },
    afterSuccess: (res) => announceCopyVerify(deps, server, snap, t, res),
  });
}

/** `deps.ledger`: the transaction that records the outcome (its repositories), as the caller holds it. */
async function record(deps: { ledger: LedgerRepos; clock: Pick<Clock, "now"> }, copy: CopyRow, res: VerifyResult): Promise<void> {
  const { ledger } = deps;
  const cur = (await ledger.copies.get(copy.id))!;
  const t = deps.clock.now();
  if (res.ok && cur.state === "broken") await ledger.copies.transition(cur.id, "done", { verified_at: t, error: null });
  else if (res.ok) await ledger.copies.annotate(cur.id, { verified_at: t });
  else if (cur.state === "done") await ledger.copies.transition(cur.id, "broken", { verified_at: t, error: res.problems.join("; ") });
  else await ledger.copies.annotate(cur.id, { verified_at: t, error: res.problems.join("; ") });
}

/** The copy's verdict in the ledger, as verify --from records it: verify --target records each copy it reads so. */
export const recordCopyVerify = record;
