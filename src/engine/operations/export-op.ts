import type { ServerRow, SnapshotRow } from "../../../db/types.ts";
import type { Asker, EngineDeps } from "../deps.ts";
import { runOperation, type OperationHandle } from "./run-operation.ts";
import { capabilityOf, handleOf } from "./snapshot-handle.ts";
import type { ExportFormat } from "../../drivers/driver.ts";
import { UserError } from "../../errors.ts";


export interface ExportDone {
  file: string;
  sha256: string;
}

/** export <server>/<snap> --format vmdk|vhd|qcow2: a disk image beside the snapshot, with its checksum. */
export async function exportSnapshot(deps: EngineDeps, server: ServerRow, snap: SnapshotRow, format: ExportFormat, asker: Asker): Promise<OperationHandle<ExportDone>> {
  const driver = deps.drivers.get(server);
  const exportTo = capabilityOf(driver, "export", server);
  const ref = `${server.name}/${snap.name}`;
  const formats = driver.features?.exportFormats ?? [];
  if (!formats.includes(format))
    throw new UserError("bad_format", `${server.name} (${server.driver}) cannot export as ${format}: use --format ${formats.join("|")}`);
  if (snap.state === "broken") throw new UserError("broken", `${ref} is broken: it will not be exported; pick another with list ${server.name}`);
  if (snap.state !== "done") throw new UserError("not_done", `${ref} is ${snap.state}: only done snapshots can be exported`);
  driver.checkExport?.(handleOf(snap), format);
  return runOperation<ExportDone>(deps, {
    server,
    kind: "export",
    label: `export ${ref} to ${format}`,
    ...asker,
    args: { snapshot: snap.name, format },
    work: async (ctx) => {
      const res = await exportTo.call(driver, handleOf(snap), format, ctx);
      return { result: `exported to ${res.file} (sha256 ${res.sha256})`, commit: () => res };
    },
  });
}
