import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import type { DriverContext, SnapshotHandle, VerifyResult } from "../driver.ts";
import type { PartStore } from "../../storage/part-store.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";
import { readManifest } from "../../storage/manifest.ts";
import { plainStream } from "../../storage/kit/read-stored.ts";
import { createArchiveCheck } from "./archive-check.ts";
import { manifestSchema } from "./consul-manifest.ts";

// verify --full: after every part's hash, the stored stream read as a restore would send it (decrypted, age's
// MAC on every chunk) through Consul's archive checks again, and meta.json compared with the manifest's: what
// `consul snapshot inspect` would say of the file, without a Consul.

export async function verifyConsulFull(store: PartStore, snap: SnapshotHandle, hashed: VerifyResult, atRest: AtRest, ctx: DriverContext): Promise<VerifyResult> {
  const read = await readManifest(store, snap, manifestSchema);
  if (read.state !== "ok") return { ...hashed, ok: false, problems: ["manifest.json changed while it was being verified"] };
  const m = read.manifest;
  const plain = plainStream(store, snap, m, atRest);
  const check = createArchiveCheck();
  ctx.progress({ stage: "verifying", totalBytes: m.total.size });
  try {
    await pipeline(plain.stream, check.stream, new Writable({ write: (_c, _e, cb) => cb() }), { signal: ctx.signal });
  } catch (e) {
    const why = (plain.failure() as Error | null) ?? (e as Error);
    return { ...hashed, ok: false, problems: [why.message] };
  }
  const meta = check.info();
  const want = m.consul.meta;
  if (meta.id !== want.id || meta.index !== want.index || meta.term !== want.term)
    return { ...hashed, ok: false, problems: [`meta.json says ID ${meta.id}, Index ${meta.index}; the manifest says ID ${want.id}, Index ${want.index}`] };
  const how = m.encryption ? "decrypted (age's MAC checked on every chunk) and " : "";
  return { ...hashed, notes: [`${how}checked as Consul's CLI does: meta.json, state.bin (${meta.size} bytes) and SHA256SUMS, every hash matching; Index ${meta.index}, Term ${meta.term}`] };
}
