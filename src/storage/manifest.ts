import { z } from "zod";
import { PART_FILE, type PartStore, type SnapshotKey } from "./part-store.ts";
import { encryptionField } from "./encryption/at-rest.ts";

// manifest.json is written last and atomically: its presence is what makes a snapshot complete
// (leftover() and start-up reconciliation rely on that), and restore reads parts from it in order.
// This is the part every stored snapshot has; a driver's manifest adds its own fields (archive-manifest.ts)
// and is passed in as the schema, so verify and storage scan judge the whole file the driver wrote.

export const MANIFEST_FILE = "manifest.json";

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits");
const size = z.number().int().nonnegative();

/** The fields of the stored part every manifest has, for drivers to place in their own schema. */
export const storedFields = {
  server: z.string().min(1),
  snapshot: z.string().min(1),
  created_at: z.string(),
  finished_at: z.string(),
  part_size: z.number().int().positive(),
  parts: z.array(z.object({ file: z.string().regex(PART_FILE), size, sha256 })),
  total: z.object({ size, sha256, md5: z.string().regex(/^[0-9a-f]{32}$/).optional() }),
  // Present when the stream was age-encrypted before it was cut into parts (parts and total are ciphertext).
  encryption: encryptionField.optional(),
};
export const byteCount = size;

export const storedManifestSchema = z.object(storedFields);
export type StoredManifest = z.infer<typeof storedManifestSchema>;
export type ManifestSchema<M extends StoredManifest> = z.ZodType<M>;

export type ManifestRead<M extends StoredManifest = StoredManifest> =
  | { state: "ok"; manifest: M }
  | { state: "missing" }
  | { state: "invalid"; problem: string };

export async function readManifest<M extends StoredManifest>(
  store: PartStore,
  key: SnapshotKey,
  schema: ManifestSchema<M>,
): Promise<ManifestRead<M>> {
  let text: string | null;
  try {
    text = await store.readManifest(key);
  } catch (e) {
    return { state: "invalid", problem: `${MANIFEST_FILE} cannot be read: ${(e as Error).message}` };
  }
  if (text === null) return { state: "missing" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { state: "invalid", problem: `${MANIFEST_FILE} is not valid JSON` };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { state: "ok", manifest: parsed.data };
  const issue = parsed.error.issues[0];
  return { state: "invalid", problem: `${MANIFEST_FILE} is malformed at ${issue?.path.join(".") || "top level"}: ${issue?.message}` };
}

export async function writeManifest(store: PartStore, key: SnapshotKey, manifest: StoredManifest): Promise<void> {
  await store.writeManifest(key, `${JSON.stringify(manifest, null, 2)}\n`);
}
