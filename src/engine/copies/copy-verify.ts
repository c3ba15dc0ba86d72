import type { CopyRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
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

export function verifyCopy(
  deps: EngineDeps,
  server: ServerRow,
  snap: SnapshotRow,
  from: string,
  asker: Asker,
  opts: VerifyOptions = {},
): OperationHandle<CopyVerified> {
  if (opts.full) refuseFullVerify(deps.drivers.features(server), server);
  const src = copySource(deps, snap, server, from, true);
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
      return { result, commit: () => (record(deps, src.copy, res), { ...res, target: t }) };
    },
    afterSuccess: (res) => announceCopyVerify(deps, server, snap, t, res),
  });
}

function record(deps: EngineDeps, copy: CopyRow, res: VerifyResult): void {
  const cur = deps.ledger.copies.get(copy.id)!;
  const t = deps.clock.now();
  if (res.ok && cur.state === "broken") deps.ledger.copies.transition(cur.id, "done", { verified_at: t, error: null });
  else if (res.ok) deps.ledger.copies.annotate(cur.id, { verified_at: t });
  else if (cur.state === "done") deps.ledger.copies.transition(cur.id, "broken", { verified_at: t, error: res.problems.join("; ") });
  else deps.ledger.copies.annotate(cur.id, { verified_at: t, error: res.problems.join("; ") });
}

/** The copy's verdict in the ledger, as verify --from records it: verify --target records each copy it reads so. */
export const recordCopyVerify = record;
