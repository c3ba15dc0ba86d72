import { pipeline } from "node:stream";
import { SnapbotError } from "../../errors.ts";
import type { CreateRequest, CreateResult, DriverContext } from "../driver.ts";
import type { PartStore, SnapshotKey } from "../../storage/part-store.ts";
import { startProgressTicker } from "../../storage/progress-ticker.ts";
import { storeStream, withNewSnapshot, writeLast } from "../../storage/kit/store-stream.ts";
import type { Sealing } from "../../storage/encryption/at-rest.ts";
import { createArchiveCheck } from "./archive-check.ts";
import type { ConsulClient, SnapshotResponse } from "./consul-client.ts";
import { ConsulError } from "./consul-errors.ts";
import { consulDetails, MANIFEST_FORMAT, type ConsulFields, type Manifest } from "./consul-manifest.ts";
import type { StaleMode } from "./consul-settings.ts";

// create: GET /v1/snapshot streamed through Consul's own archive checks (archive-check.ts), age-sealed for a
// sensitive server, into parts; the manifest, last, only once the archive proved whole. A bad archive, a cut
// connection or a cancel fails the stream itself, so the parts are removed and nothing is left to count.

type AgentSelf = Awaited<ReturnType<ConsulClient["agentSelf"]>>;

export interface ConsulTarget {
  name: string;
  address: string;
  datacenter: string | undefined;
  stale: StaleMode;
  partSize: number;
}

export async function createConsul(t: ConsulTarget, client: ConsulClient, store: PartStore, req: CreateRequest, ctx: DriverContext, sealing: () => Promise<Sealing | null>): Promise<CreateResult> {
  const ref = `${req.server}/${req.name}`;
  if (ctx.signal.aborted) throw new ConsulError("cancelled", `create of ${ref} was cancelled before it started`);
  // Everything that can be refused (the token, the leader) is refused before the first byte is written.
  const self = await client.agentSelf(ctx.signal);
  const stale = t.stale === "always" || (t.stale === "auto" && !(await client.hasLeader(ctx.signal)));
  const seal = await sealing();
  const key: SnapshotKey = { server: req.server, name: req.name };
  return withNewSnapshot(store, key, ctx.log, async () => {
    const abort = new AbortController();
    const signal = AbortSignal.any([ctx.signal, abort.signal]);
    const res = await snapshotOf(client, t.stale, stale, signal);
    if (t.stale === "never" && res.knownLeader === false) {
      res.body.destroy(); // the connection is not left holding a body nobody reads
      throw new ConsulError("no_leader", `${t.name}: Consul served the snapshot without a known leader, and stale is never: set stale: auto to accept that`);
    }
    const written = await streamArchive(res, store, key, t.partSize, seal, ctx, abort);
    if (ctx.signal.aborted) throw new ConsulError("cancelled", `create of ${ref} was cancelled`);
    const manifest = manifestOf(t, req, self, stale, res, written, seal);
    await writeLast(store, key, [], manifest);
    ctx.log.info({ snapshot: ref, parts: written.parts.length, bytes: written.total.size, index: manifest.consul.meta.index, stale: manifest.consul.stale }, "consul snapshot written");
    return { location: store.where(key), size: written.total.size, checksum: `sha256:${written.total.sha256}`, parts: written.parts, details: consulDetails(manifest) };
  });
}

type Written = Awaited<ReturnType<typeof streamArchive>>;

function manifestOf(t: ConsulTarget, req: CreateRequest, self: AgentSelf, stale: boolean, res: SnapshotResponse, written: Written, seal: Sealing | null): Manifest {
  const consul: ConsulFields = {
    address: t.address,
    datacenter: self.datacenter,
    consul_version: self.version,
    x_consul_index: res.index,
    stale: stale || res.knownLeader === false,
    last_contact_ms: res.lastContactMs,
    meta: written.meta,
  };
  return {
    format: MANIFEST_FORMAT,
    server: req.server,
    snapshot: req.name,
    consul,
    created_at: new Date(req.createdAt).toISOString(),
    finished_at: new Date().toISOString(),
    part_size: t.partSize,
    parts: written.parts,
    total: written.total,
    archive_size: written.archiveBytes,
    ...(seal ? { encryption: seal.info } : {}),
  };
}

/** stale: auto asked for a consistent snapshot and the leader went in between: a stale one after all. */
async function snapshotOf(client: ConsulClient, mode: StaleMode, stale: boolean, signal: AbortSignal): Promise<SnapshotResponse> {
  try {
    return await client.snapshot(stale, signal);
  } catch (e) {
    if (mode !== "auto" || stale || !(e instanceof ConsulError && e.code === "no_leader")) throw e;
    return client.snapshot(true, signal);
  }
}

async function streamArchive(res: SnapshotResponse, store: PartStore, key: SnapshotKey, partSize: number, sealing: Sealing | null, ctx: DriverContext, abort: AbortController) {
  const check = createArchiveCheck();
  let archiveBytes = 0;
  res.body.on("data", (c: Buffer) => (archiveBytes += c.length));
  // An error anywhere (the connection cut, the check failing) destroys both, so the parts' writer sees it.
  pipeline(res.body, check.stream, () => {});
  const write = storeStream(store, key, check.stream, { partSize, sealing, signal: ctx.signal, onFailure: () => abort.abort() });
  const ticker = startProgressTicker(ctx, "downloading", () => archiveBytes);
  try {
    const stored = await write.done;
    return { ...stored, meta: check.info(), archiveBytes };
  } catch (e) {
    throw streamError(e, key, archiveBytes, ctx.signal);
  } finally {
    ticker.stop();
    res.body.destroy();
  }
}

function streamError(e: unknown, key: SnapshotKey, bytes: number, signal: AbortSignal): unknown {
  if (e instanceof SnapbotError) return e;
  const ref = `${key.server}/${key.name}`;
  if (signal.aborted) return new ConsulError("cancelled", `create of ${ref} was stopped after ${bytes} bytes from Consul`, { cause: e });
  if (e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === "string") return e; // the store's own failure
  return new ConsulError("unreachable", `${ref}: the connection to Consul broke after ${bytes} bytes of the snapshot (${(e as Error).message}); nothing was kept`, { cause: e });
}

