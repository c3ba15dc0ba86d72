import { basename } from "node:path";
import { formatBytes } from "../../duration.ts";
import type { Readable } from "node:stream";
import { BackendError, SnapbotError } from "../../errors.ts";
import type { CreateRequest, CreateResult, DriverContext } from "../driver.ts";
import type { PartStore, SnapshotKey } from "../../storage/part-store.ts";
import { startProgressTicker } from "../../storage/progress-ticker.ts";
import { STREAM_BUFFER, storeStream, withNewSnapshot, writeLast, type StoreStreamOptions } from "../../storage/kit/store-stream.ts";
import type { EncryptionInfo } from "../../storage/encryption/at-rest.ts";
import { plainStream } from "../../storage/kit/read-stored.ts";
import type { StoredStream } from "../../storage/stream-to-parts.ts";
import type { Pipeline } from "../../transport/runner.ts";
import { MANIFEST_FORMAT, METADATA_FILE, type Artefact, type Manifest, type Metadata, type StepRecord } from "./command-manifest.ts";
import type { CommandContextDeps } from "./command-context.ts";
import { names, shownStep, substituteStep, type Values } from "./placeholders.ts";
import { runStep, startStep, type StepRun } from "./run-step.ts";
import { openWorkspace, readArtefact, writeArtefact, type Workspace } from "./workspace.ts";
import { renderCommandReadme } from "./command-readme.ts";
import { toolVersions } from "./tool-versions.ts";

// create: the steps in order; the snapshot is the last step's stdout streamed into parts, or the file (folder) a
// step wrote at {file} ({dir}); sealed with age for a sensitive server, through the stored-snapshot kit. `check`
// steps validate it before it counts (a file or folder before it is stored; a stream read back from the parts into
// {file}). Any failure removes what was stored: only a manifest makes it done.

export function artefactOf(create: string[][]): Artefact {
  return names(create, "dir") ? "dir" : names(create, "file") ? "file" : "stdout";
}

export async function createCommand(c: CommandContextDeps, req: CreateRequest, ctx: DriverContext): Promise<CreateResult> {
  const ref = `${req.server}/${req.name}`;
  if (ctx.signal.aborted) throw new BackendError("command_aborted", `create of ${ref} was cancelled before it started`);
  const sealing = c.sensitive ? await c.atRest.seal(c.settings.name, STREAM_BUFFER) : null;
  const key: SnapshotKey = { server: req.server, name: req.name };
  // A stdout snapshot with no checks needs no {file}: one process (an ssh session) fewer before the first step.
  const needsWorkspace = artefactOf(c.settings.create) !== "stdout" || c.settings.check.length > 0;
  const w = needsWorkspace ? await openWorkspace(c.runner, ctx.signal) : NO_WORKSPACE;
  try {
    const values: Values = { ...c.settings.vars, name: req.name, server: c.settings.name, file: w.file, dir: w.dir };
    const tools = await toolVersions(c, values, ctx.signal);
    return await withNewSnapshot(c.store, key, ctx.log, async () => {
      const made = await produce(c, key, w, values, ctx, sealing);
      if (ctx.signal.aborted) throw new BackendError("command_aborted", `create of ${ref} was cancelled`);
      return finish(c, req, key, made, tools, sealing !== null);
    });
  } finally {
    await w.remove().catch((e: unknown) => ctx.log.warn({ err: e }, "could not remove the command workspace"));
  }
}

const NO_WORKSPACE: Workspace = { file: "", dir: "", remove: async () => {} };

interface Stored {
  stream: StoredStream;
  plainBytes: number;
  sealed: EncryptionInfo | null; // how the parts are encrypted (a sensitive server)
}

interface Made extends Stored {
  artefact: Artefact;
  steps: StepRecord[];
}

async function produce(c: CommandContextDeps, key: SnapshotKey, w: Workspace, values: Values, ctx: DriverContext, sealing: Sealing): Promise<Made> {
  const artefact = artefactOf(c.settings.create);
  const steps: StepRecord[] = [];
  const create = c.settings.create;
  if (artefact === "dir") await c.runner.run("mkdir", ["-m", "700", "--", w.dir], { signal: ctx.signal });
  const upTo = artefact === "stdout" ? create.length - 1 : create.length;
  for (let i = 0; i < upTo; i++) steps.push(await plainStep(c, run("create", i, create[i]!, values), ctx));
  if (artefact !== "stdout") {
    await runChecks(c, values, ctx, steps); // the file or folder is judged before a byte of it is stored
    const stream = await store(c, key, () => readArtefact(c.runner, artefact, w, ctx.signal), ctx, sealing, `${artefact} {${artefact}}`);
    return { artefact, ...stream, steps };
  }
  const last = run("create", create.length - 1, create.at(-1)!, values);
  let ms = 0;
  const stream = await store(c, key, () => {
    const s = startStep(last, { runner: c.runner, signal: ctx.signal, timeoutMs: c.timeoutMs });
    return { ...s.pipe, done: s.done.then((d) => ((ms = d.ms), { stderr: "" })) };
  }, ctx, sealing, `stdout of create step ${create.length}`);
  steps.push({ phase: "create", argv: shownStep(last.template), ms, stdout_bytes: stream.plainBytes });
  if (c.settings.check.length) {
    // The checks read what was stored, decrypted, at {file}: the bytes a restore would get.
    await writeArtefact(c.runner, "file", w, storedBack(c, key, stream), ctx.signal);
    await runChecks(c, values, ctx, steps);
  }
  return { artefact, ...stream, steps };
}

type Sealing = StoreStreamOptions["sealing"];

/** What was just stored, read back decrypted (before its manifest exists: the parts and totals are known here). */
function storedBack(c: CommandContextDeps, key: SnapshotKey, s: Stored): Readable {
  const m = { ...s.stream, server: key.server, snapshot: key.name, created_at: "", finished_at: "", part_size: c.partSize };
  return plainStream(c.store, key, s.sealed ? { ...m, encryption: s.sealed } : m, c.atRest).stream;
}

/** The producer's stdout into parts (sealed when sensitive): a failure of either side stops the other. */
async function store(c: CommandContextDeps, key: SnapshotKey, start: () => Pipeline, ctx: DriverContext, sealing: Sealing, what: string): Promise<Stored> {
  const pipe = start();
  let plainBytes = 0;
  pipe.stdout.on("data", (b: Buffer) => (plainBytes += b.length));
  const write = storeStream(c.store, key, pipe.stdout, { partSize: c.partSize, sealing, onFailure: () => pipe.kill(), signal: ctx.signal });
  const ticker = startProgressTicker(ctx, "storing", write.bytes);
  const [wrote, ran] = await Promise.allSettled([write.done, pipe.done]);
  ticker.stop();
  if (ran.status === "rejected" && !(wrote.status === "rejected" && isStoreError(wrote.reason))) throw ran.reason;
  if (wrote.status === "rejected") throw wrote.reason;
  if (plainBytes === 0) throw new BackendError("empty_snapshot", `${key.server}/${key.name}: the ${what} is empty: a snapshot must hold something`);
  return { stream: wrote.value, plainBytes, sealed: sealing?.info ?? null };
}

function isStoreError(e: unknown): boolean {
  return (e instanceof SnapbotError && !e.code.startsWith("command_")) || typeof (e as NodeJS.ErrnoException)?.syscall === "string";
}

function run(phase: StepRun["phase"], index: number, template: string[], values: Values): StepRun {
  return { phase, index, template, argv: substituteStep(template, values) };
}

async function plainStep(c: CommandContextDeps, step: StepRun, ctx: DriverContext): Promise<StepRecord> {
  const done = await runStep(step, { runner: c.runner, signal: ctx.signal, timeoutMs: c.timeoutMs });
  return { phase: step.phase, argv: shownStep(step.template), ms: done.ms, stdout_bytes: done.stdoutBytes };
}

async function runChecks(c: CommandContextDeps, values: Values, ctx: DriverContext, steps: StepRecord[]): Promise<void> {
  for (const [i, s] of c.settings.check.entries()) steps.push(await plainStep(c, run("check", i, s, values), ctx));
}

async function finish(c: CommandContextDeps, req: CreateRequest, key: SnapshotKey, made: Made, tools: Record<string, string>, encrypted: boolean): Promise<CreateResult> {
  const { stream } = made;
  const finished = new Date().toISOString();
  const created = new Date(req.createdAt).toISOString();
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    server: req.server,
    snapshot: req.name,
    artefact: made.artefact,
    created_at: created,
    finished_at: finished,
    part_size: c.partSize,
    parts: stream.parts,
    total: stream.total,
    plain_size: made.plainBytes,
    ...(made.sealed ? { encryption: made.sealed } : {}),
  };
  const metadata: Metadata = {
    format: "snapbot-command-metadata/1",
    server: req.server,
    snapshot: req.name,
    host: c.settings.host,
    artefact: made.artefact,
    steps: made.steps,
    tools,
    plain_size: made.plainBytes,
    stored_size: stream.total.size,
    encrypted,
    created_at: created,
    finished_at: finished,
  };
  await writeLast(c.store, key, [["README.txt", renderCommandReadme(manifest)], [METADATA_FILE, `${JSON.stringify(metadata, null, 2)}\n`]], manifest);
  return {
    location: c.store.where(key),
    size: stream.total.size,
    checksum: `sha256:${stream.total.sha256}`,
    parts: stream.parts,
    details: commandDetails(manifest, tools, made.steps.length),
  };
}

/** The ledger's details: what `show` prints of the application's snapshot. */
export function commandDetails(m: Manifest, tools?: Record<string, string>, steps?: number): Record<string, unknown> {
  const made = m.artefact === "stdout" ? "the last create step's stdout" : m.artefact === "file" ? "the file a step wrote at {file}" : "the folder at {dir}, as a tar";
  const about: Array<[string, string]> = [
    ["application", `${made}, ${formatBytes(m.plain_size)} (metadata.json beside it)`],
    ...Object.entries(tools ?? {}).map(([tool, line]): [string, string] => [tool, line]),
  ];
  return {
    format: m.format,
    artefact: m.artefact,
    plain_size: m.plain_size,
    about,
    ...(tools && Object.keys(tools).length ? { tools } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(m.encryption ? { encryption: m.encryption } : {}),
  };
}

export const toolName = (argv0: string) => basename(argv0);
