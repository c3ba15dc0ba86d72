import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "./durable.ts";

// manifest.json is written last and atomically: its presence is what makes a snapshot complete
// (leftover() and start-up reconciliation rely on that), and restore reads parts from it in order.

export const MANIFEST_FILE = "manifest.json";
export const MANIFEST_FORMAT = "snapbot-archive/1";

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits");
const size = z.number().int().nonnegative();

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  server: z.string().min(1),
  snapshot: z.string().min(1),
  mode: z.enum(["tar", "raw"]),
  // resolved: the paths as the host resolved them (symlinks followed), where tar -x writes; absent in older manifests.
  source: z.object({
    host: z.string(),
    paths: z.array(z.string()),
    exclude: z.array(z.string()),
    resolved: z.array(z.string()).optional(),
  }),
  compression: z.enum(["zstd", "gzip"]),
  created_at: z.string(),
  finished_at: z.string(),
  part_size: z.number().int().positive(),
  // The file pattern keeps a tampered manifest from pointing verify (or restore) outside the folder.
  parts: z.array(z.object({ file: z.string().regex(/^\.parts\/part-\d{6}$/), size, sha256 })),
  total: z.object({ size, sha256, md5: z.string().regex(/^[0-9a-f]{32}$/).optional() }),
  // The bytes of the stream before compression (the tar archive, the image): what a restore writes.
  // Absent in manifests written before it was recorded.
  uncompressed_size: size.optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;

export type ManifestRead =
  | { state: "ok"; manifest: Manifest }
  | { state: "missing" }
  | { state: "invalid"; problem: string };

export async function readManifest(folder: string): Promise<ManifestRead> {
  let text: string;
  try {
    text = await readFile(join(folder, MANIFEST_FILE), "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { state: "missing" };
    return { state: "invalid", problem: `${MANIFEST_FILE} cannot be read: ${(e as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { state: "invalid", problem: `${MANIFEST_FILE} is not valid JSON` };
  }
  const parsed = manifestSchema.safeParse(json);
  if (parsed.success) return { state: "ok", manifest: parsed.data };
  const issue = parsed.error.issues[0];
  return { state: "invalid", problem: `${MANIFEST_FILE} is malformed at ${issue?.path.join(".") || "top level"}: ${issue?.message}` };
}

export async function writeManifest(folder: string, manifest: Manifest, fsync: boolean): Promise<void> {
  await writeFileAtomic(join(folder, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, fsync);
}
