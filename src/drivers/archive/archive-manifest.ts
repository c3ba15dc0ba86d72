import { z } from "zod";
import { byteCount, storedFields } from "../../storage/manifest.ts";

// The archive's manifest.json: the stored fields every snapshot has (src/storage/manifest.ts) and what
// restore needs to put it back (mode, the source paths, the compression). Field order is the file's.

export const MANIFEST_FORMAT = "snapbot-archive/1";

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  server: storedFields.server,
  snapshot: storedFields.snapshot,
  mode: z.enum(["tar", "raw"]),
  // resolved: the paths as the host resolved them (symlinks followed), where tar -x writes; absent in older manifests.
  source: z.object({
    host: z.string(),
    paths: z.array(z.string()),
    exclude: z.array(z.string()),
    resolved: z.array(z.string()).optional(),
  }),
  compression: z.enum(["zstd", "gzip"]),
  created_at: storedFields.created_at,
  finished_at: storedFields.finished_at,
  part_size: storedFields.part_size,
  parts: storedFields.parts,
  total: storedFields.total,
  // The bytes of the stream before compression (the tar archive, the image): what a restore writes.
  // Absent in manifests written before it was recorded.
  uncompressed_size: byteCount.optional(),
  // Sensitive servers: the stream was age-encrypted after compression, before it was cut into parts.
  encryption: storedFields.encryption,
});

export type Manifest = z.infer<typeof manifestSchema>;
