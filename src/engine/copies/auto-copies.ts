import type { CopyRow, ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { Asker, EngineDeps } from "../deps.ts";
import type { OperationHandle } from "../operations/run-operation.ts";
import { copiesSettingOf } from "../../drivers/shared/common-settings.ts";
import { errorMessage } from "../../errors.ts";
import { copyToTarget } from "./copy-snapshot.ts";
import { raiseCopyFailed } from "./copy-alerts.ts";

// `copies: [target…]` (a common setting): every snapshot of the server that is done (checked) is copied to each
// target, scheduled ones too, each copy its own operation started as the create commits. A copy that cannot start
// is a copy_failed alert, like one that fails.

export interface StartedCopy {
  target: string;
  /** The copy's operation; absent when it was refused before starting (`refused` says why). */
  handle?: OperationHandle<CopyRow>;
  refused?: string;
}

export async function copiesAfterCreate(deps: EngineDeps, server: ServerRow, snap: SnapshotRow, asker: Asker): Promise<StartedCopy[]> {
  const ref = `${server.name}/${snap.name}`;
  const out: StartedCopy[] = [];
  for (const target of copiesSettingOf(server.settings)) {
    try {
      const handle = await copyToTarget(deps, server, snap, target, { ...asker, auto: true });
      handle.job.done.catch(() => undefined); // recorded, logged and alerted by the operation itself
      out.push({ target, handle });
    } catch (e) {
      const refused = errorMessage(e);
      deps.log.warn({ snapshot: ref, target, err: refused }, "a copy after create could not start");
      await raiseCopyFailed(deps, server, snap, target, `copy of ${ref} to ${target} did not start`, [refused], [{ label: "Retry", command: `copy ${ref} ${target}` }]);
      out.push({ target, refused });
    }
  }
  return out;
}
