import { z } from "zod";
import { byteCount, storedFields } from "../../storage/manifest.ts";

// A Consul snapshot's manifest.json: the stored fields every snapshot has, and what `consul snapshot inspect`
// shows (meta.json's ID, Index, Term, Version, Size) with what Consul said while serving it (X-Consul-Index,
// whether it was stale and the follower's X-Consul-LastContact) and the cluster's Consul version, which a
// restore compares with the target's. The stored stream is Consul's archive byte for byte (gzip tar).

export const MANIFEST_FORMAT = "snapbot-consul/1";

const count = z.number().int().nonnegative();

export const consulFields = z.object({
  address: z.string(),
  datacenter: z.string().nullable(),
  consul_version: z.string().min(1),
  x_consul_index: count.nullable(),
  stale: z.boolean(),
  last_contact_ms: count.nullable(),
  meta: z.object({ id: z.string().min(1), index: count, term: count, version: count, size: count }),
});
export type ConsulFields = z.infer<typeof consulFields>;

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  server: storedFields.server,
  snapshot: storedFields.snapshot,
  consul: consulFields,
  created_at: storedFields.created_at,
  finished_at: storedFields.finished_at,
  part_size: storedFields.part_size,
  parts: storedFields.parts,
  total: storedFields.total,
  // The archive's bytes as Consul sent them (the total is of the ciphertext when encrypted).
  archive_size: byteCount,
  encryption: storedFields.encryption,
});

export type Manifest = z.infer<typeof manifestSchema>;

/** The ledger's details: the manifest's consul fields, and what show prints as `consul snapshot inspect` does. */
export function consulDetails(m: Pick<Manifest, "format" | "consul" | "archive_size" | "encryption">): Record<string, unknown> {
  const c = m.consul;
  const staleNote = c.stale ? `stale: taken from a follower (last contact with a leader ${c.last_contact_ms ?? "?"} ms before)` : null;
  return {
    format: m.format,
    consul: c,
    archive_size: m.archive_size,
    // What show prints as `consul snapshot inspect` does: label/value pairs, in this order (details.about).
    about: [
      ["ID", c.meta.id],
      ["Index", String(c.meta.index)],
      ["Term", String(c.meta.term)],
      ["Version", String(c.meta.version)],
      ["Size", `${c.meta.size} bytes (state.bin)`],
      ["Consul version", c.consul_version],
      ["X-Consul-Index", c.x_consul_index === null ? "—" : String(c.x_consul_index)],
      ["consistency", staleNote ?? "consistent (served by the leader)"],
    ],
    ...(staleNote ? { notes: [staleNote] } : {}),
    ...(m.encryption ? { encryption: m.encryption } : {}),
  };
}
