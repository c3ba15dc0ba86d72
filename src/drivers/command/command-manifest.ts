import { z } from "zod";
import { byteCount, storedFields } from "../../storage/manifest.ts";

// The command driver's manifest.json: the stored fields every snapshot has, and what restore needs: whether the
// snapshot is a step's stdout, the file a step wrote at {file}, or the folder at {dir} (stored as a tar).
// metadata.json beside it is snapbot's own account of how it was made (steps, tool versions, sizes, times).

export const MANIFEST_FORMAT = "snapbot-command/1";
export const METADATA_FILE = "metadata.json";
export const ARTEFACTS = ["stdout", "file", "dir"] as const;
export type Artefact = (typeof ARTEFACTS)[number];

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  server: storedFields.server,
  snapshot: storedFields.snapshot,
  artefact: z.enum(ARTEFACTS),
  created_at: storedFields.created_at,
  finished_at: storedFields.finished_at,
  part_size: storedFields.part_size,
  parts: storedFields.parts,
  total: storedFields.total,
  // The artefact's bytes before encryption (what a restore feeds the steps).
  plain_size: byteCount,
  encryption: storedFields.encryption,
});

export type Manifest = z.infer<typeof manifestSchema>;

export interface StepRecord {
  phase: string;
  argv: string[]; // the template, URL passwords masked: vars stay {name}, so no secret from a var is kept
  ms: number;
  stdout_bytes?: number;
}

export interface Metadata {
  format: "snapbot-command-metadata/1";
  server: string;
  snapshot: string;
  host: string;
  artefact: Artefact;
  steps: StepRecord[];
  tools: Record<string, string>; // program → the first line its --version printed
  plain_size: number;
  stored_size: number;
  encrypted: boolean;
  created_at: string;
  finished_at: string;
}
