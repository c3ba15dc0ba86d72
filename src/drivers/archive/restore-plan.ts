import { isAbsolute, join } from "node:path";
import { formatBytes } from "../../duration.ts";
import { UserError } from "../../errors.ts";
import type { RestoreDescription, RestoreOptions, SnapshotHandle } from "../driver.ts";
import type { Manifest } from "./archive-manifest.ts";

// Where a restore writes, decided once from the snapshot's manifest and the server written: restore-archive
// writes exactly `into`, and the dry run, the approval request and the result say `writes`, so they agree.

export interface RestorePlan extends RestoreDescription {
  mode: "tar" | "raw";
  /** tar: the folder `tar -x -C` extracts under; raw: the device or image file `dd of=` writes. */
  into: string;
}

/** The server being written: this driver's own settings. */
export interface RestoreDestination {
  name: string;
  mode: "tar" | "raw";
  device: string | undefined;
}

const VERIFIED_FIRST = "every part is verified again before anything is written: a broken snapshot is never restored";

export function planRestore(m: Manifest, snap: SnapshotHandle, opts: RestoreOptions, dest: RestoreDestination): RestorePlan {
  if (opts.target !== undefined && !isAbsolute(opts.target))
    throw new UserError("bad_target", `--target must be an absolute folder, e.g. --target /srv/restore (got "${opts.target}")`);
  const elsewhere = snap.server !== dest.name;
  if (elsewhere && m.mode !== dest.mode)
    throw new UserError(
      "bad_destination",
      `${snap.server} is a ${m.mode} archive and ${dest.name} a ${dest.mode} one: restore --to needs two servers of the same mode`,
    );
  const on = `on ${dest.name}${elsewhere ? ` from ${snap.server}/${snap.name}` : ""}`;
  const bytes = m.uncompressed_size ?? null;
  // Older snapshots did not record it: say so, rather than pass the compressed size off as what is written.
  const amount = bytes === null ? `${formatBytes(m.total.size)} compressed (its uncompressed size was not recorded)` : formatBytes(bytes);
  if (m.mode === "raw") return { mode: "raw", bytes, notes: [VERIFIED_FIRST], ...rawPlace(m, snap, opts, dest, `${on}: ${amount}`) };
  // Members are stored relative to "/", so each source path lands at <target>/<path>, or at itself.
  const base = opts.target ?? "/";
  const places = (m.source.resolved ?? m.source.paths).map((p) => join(base, p));
  const under = opts.target === undefined || opts.target === "/" ? "" : ` extracted under ${opts.target}`;
  const notes = [VERIFIED_FIRST];
  const root = `--target / writes over the root of the server ${dest.name}: the same places as a restore without --target`;
  if (opts.target === "/") notes.push(root);
  else if (places.includes("/")) notes.push(`this writes over the root of the server ${dest.name}`);
  const writes = `${places.join(", ")} ${on}: ${amount}${under} (files in the snapshot are overwritten; newer files are kept)`;
  return { mode: "tar", into: base, writes, notes, bytes };
}

function rawPlace(m: Manifest, snap: SnapshotHandle, opts: RestoreOptions, dest: RestoreDestination, onAmount: string) {
  if (opts.target !== undefined) {
    // --target is a folder (the grammar's <dir>): the image goes into it as a file named after the snapshot.
    const into = join(opts.target, `${snap.name}.img`);
    return { into, writes: `the image file ${into} ${onAmount} (a file of that name is replaced; the device is not touched)` };
  }
  // Another server's snapshot goes onto this server's own device; a server's own goes back where it was read.
  const into = snap.server !== dest.name || opts.to !== undefined ? (dest.device ?? "") : m.source.paths[0]!;
  return { into, writes: `the device ${into} ${onAmount} (the whole device is overwritten)` };
}
