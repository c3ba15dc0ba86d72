import type { Logger } from "pino";
import type { Ledger } from "../../../db/ledger.ts";
import type { CopyRow } from "../../../db/types.ts";
import type { CopyState } from "../../../db/states.ts";
import type { StorageTargets } from "../../storage/storage-targets.ts";
import { errorMessage } from "../../errors.ts";
import { copyKey } from "./stored-access.ts";

// Start-up: copies a previous process left running (a crash mid-upload) or being removed. What a running copy
// had written on its target is removed — only when its place was claimed (location set): before that, whatever
// is there is not its own — and the copy is failed; an interrupted removal is finished. Never "done".

export interface CopyFate {
  row: CopyRow;
  to: CopyState;
  reason: string;
}

export async function settleCopies(ledger: Ledger, targets: StorageTargets | undefined, log: Logger, interrupted: string): Promise<CopyFate[]> {
  const fates: CopyFate[] = [];
  for (const row of await ledger.copies.unfinished()) {
    const store = targets?.get(row.target)?.store;
    const owned = row.state === "deleting" || row.location !== null;
    let removed: string | null = null; // why not, when it could not be
    if (owned) {
      if (!store) removed = `${row.target} is no longer in storage.targets`;
      else await store.remove(copyKey(row.server, row.name)).catch((e: unknown) => void (removed = errorMessage(e)));
    }
    if (removed) log.warn({ copy: row.id, target: row.target, err: removed }, "could not remove what an interrupted copy left");
    fates.push(fateOf(row, removed, interrupted));
  }
  return fates;
}

function fateOf(row: CopyRow, notRemoved: string | null, interrupted: string): CopyFate {
  const left = notRemoved ? `; what it wrote could not be removed (${notRemoved}): remove ${row.location ?? "it"} by hand` : "";
  if (row.state === "deleting")
    return notRemoved
      ? { row, to: "broken", reason: `${interrupted} while removing it${left}` }
      : { row, to: "deleted", reason: `${interrupted} while removing it; the removal was finished at start-up` };
  const wrote = row.location === null ? "" : notRemoved ? left : `; what it had written on ${row.target} is removed`;
  return { row, to: "failed", reason: `${interrupted}${wrote}` };
}
