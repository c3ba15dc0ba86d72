import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, readFile, realpath, rm, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { UserError } from "../errors.ts";
import { checkName, NAME_PATTERN } from "../names.ts";
import { fsyncDir, writeFileAtomic, writeNewFile } from "./durable.ts";
import { MANIFEST_FILE } from "./manifest.ts";
import { PART_FILE, PARTS_DIR, type Leftover, type PartDigest, type PartSink, type PartStore, type SnapshotKey } from "./part-store.ts";

// The PartStore on a local folder: <root>/<server>/<snapshot>/{.parts/part-NNNNNN, manifest.json, …}, folders
// 0700 and files 0600 from the moment they exist. With fsync on, "durable" means the data and the directory
// entries naming it are on disk; the manifest is written to a temporary name and renamed, so a reader sees
// no manifest or all of it. Names are re-checked here because they become path segments.

const READ_CHUNK = 4 * 1024 * 1024; // large reads: hashing, not syscalls, should be the cost

export interface LocalPartStoreOptions {
  fsync: boolean;
  /** Other entries the driver writes into a snapshot folder (README.txt, exports): remove() accepts them. */
  ownEntry?: (name: string) => boolean;
}

export interface LocalPartStore extends PartStore {
  localFolder(key: SnapshotKey): string;
}

export function createLocalPartStore(root: string, opts: LocalPartStoreOptions): LocalPartStore {
  const folder = (key: SnapshotKey) => folderOf(root, key);
  const own = (e: string) => e === MANIFEST_FILE || e === `${MANIFEST_FILE}.tmp` || e === PARTS_DIR || (opts.ownEntry?.(e) ?? false);
  return {
    kind: "local",
    where: folder,
    localFolder: folder,
    fileParts: (key) => ({ folder: folder(key), fsync: opts.fsync }),
    create: (key) => makeSnapshotFolder(root, key),
    async openPart(key, file) {
      // 0600 at creation: the snapshot is never readable by others, not even for a moment.
      return localSink(await open(partPath(folder(key), file), "wx", 0o600), opts.fsync);
    },
    putFile: (key, name, text) => writeNewFile(join(folder(key), plainName(name)), text, opts.fsync),
    async writeManifest(key, text) {
      const dir = folder(key);
      if (opts.fsync) await fsyncDir(join(dir, PARTS_DIR)); // the parts' names, before anything says they are complete
      await writeFileAtomic(join(dir, MANIFEST_FILE), text, opts.fsync);
      if (opts.fsync) await fsyncDir(dirname(dir)); // the snapshot folder's own entry in <root>/<server>/
    },
    readManifest: (key) => readFile(join(folder(key), MANIFEST_FILE), "utf8").catch(orNull),
    getFile: (key, name) => readFile(join(folder(key), plainName(name)), "utf8").catch(orNull),
    stat: async (key, file) => sizeOf(partPath(folder(key), file)),
    async listParts(key) {
      const names = await readdir(join(folder(key), PARTS_DIR)).catch(() => [] as string[]);
      return names.sort().map((n) => `${PARTS_DIR}/${n}`);
    },
    read: (key, file) => createReadStream(partPath(folder(key), file), { highWaterMark: READ_CHUNK }),
    readChunks: (key, file) => readChunks(partPath(folder(key), file)),
    leftover: (key) => leftoverIn(folder(key)),
    list: () => snapshotsIn(root),
    remove: (key) => removeSnapshotFolder(root, key, own),
  };
}

const orNull = (e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? null : Promise.reject(e));

async function leftoverIn(dir: string): Promise<Leftover> {
  if ((await sizeOf(dir)) === null) return "nothing";
  return (await sizeOf(join(dir, MANIFEST_FILE))) === null ? "partial" : "complete";
}

async function snapshotsIn(root: string): Promise<Array<{ server: string; name: string }>> {
  const found: Array<{ server: string; name: string }> = [];
  for (const server of await folders(root)) for (const name of await folders(join(root, server))) found.push({ server, name });
  return found;
}

function snapshotFolder(root: string, server: string, name: string): string {
  return resolve(root, checkName("server", server), checkName("snapshot", name));
}

function folderOf(root: string, key: SnapshotKey): string {
  return key.location ? resolve(key.location) : snapshotFolder(root, key.server, key.name);
}

function partPath(dir: string, file: string): string {
  if (!PART_FILE.test(file)) throw new Error(`not a part name: ${JSON.stringify(file)}`);
  return join(dir, file);
}

function plainName(name: string): string {
  if (name !== basename(name) || name.startsWith(".")) throw new Error(`not a plain file name: ${JSON.stringify(name)}`);
  return name;
}

async function makeSnapshotFolder(root: string, key: SnapshotKey): Promise<void> {
  const dir = snapshotFolder(root, key.server, key.name);
  const code = (e: unknown) => (e as NodeJS.ErrnoException).code;
  try {
    await mkdir(dirname(dir), { recursive: true, mode: 0o700 }).catch(async (e: unknown) => {
      throw code(e) === "ENOENT" ? await realMkdirError(dirname(dir), e) : e;
    });
  } catch (e) {
    // A file where the server's folder (or a folder above it) should be: saying "already exists" would mislead.
    if (code(e) === "EEXIST" || code(e) === "ENOTDIR")
      throw new UserError(
        "storage_blocked",
        `${dirname(dir)} cannot be a folder for ${key.server}'s snapshots: a file is in the way there: move it`,
      );
    throw e;
  }
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (e) {
    if (code(e) === "EEXIST")
      throw new UserError(
        "snapshot_exists",
        `${key.server}/${key.name} already exists in storage (${dir}): delete it or pick another name`,
      );
    throw e;
  }
  try {
    await mkdir(join(dir, PARTS_DIR), { mode: 0o700 });
  } catch (e) {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
}

/**
 * Node's recursive mkdir reports ENOENT when a parent cannot be made (a read-only mount, a refused folder): the
 * first missing folder made on its own gives the real reason (EROFS, EACCES), which is what the user must fix.
 */
async function realMkdirError(path: string, reported: unknown): Promise<unknown> {
  let missing = path;
  while ((await sizeOf(dirname(missing)).catch(() => null)) === null && dirname(missing) !== missing) missing = dirname(missing);
  return mkdir(missing, { mode: 0o700 }).then(
    () => reported,
    (real: unknown) => real,
  );
}

function localSink(h: FileHandle, fsync: boolean): PartSink {
  return {
    write: (buffers) => writeFully(h, buffers),
    async close(_digest: PartDigest) {
      try {
        if (fsync) await h.sync();
      } finally {
        await h.close();
      }
    },
    abort: () => h.close(),
  };
}

// libuv already retries short writes; a short count here means the disk refused the rest, and the retry
// surfaces the real error (ENOSPC, EDQUOT, EIO).
async function writeFully(handle: FileHandle, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest);
    rest = dropBytes(rest, bytesWritten);
  }
}

function dropBytes(buffers: Buffer[], n: number): Buffer[] {
  let skip = n;
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) skip -= b.length;
    else {
      out.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return out;
}

/** Two buffers, reused: the next read runs in libuv's thread pool while this chunk is hashed. */
async function* readChunks(path: string): AsyncGenerator<Buffer> {
  const h = await open(path, "r");
  const buffers = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
  let position = 0;
  let current = 0;
  let reading = h.read(buffers[0]!, 0, READ_CHUNK, 0);
  try {
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      const chunk = buffers[current]!.subarray(0, bytesRead);
      position += bytesRead;
      current ^= 1;
      reading = h.read(buffers[current]!, 0, READ_CHUNK, position);
      yield chunk;
    }
  } finally {
    await reading.catch(() => undefined); // never close the file under a read still in flight
    await h.close();
  }
}

/**
 * Removes a snapshot folder, idempotently. Refuses anything that is not exactly <root>/<server>/<snapshot>
 * once symlinks are resolved, or that holds files snapbot never writes: a misconfigured storage.path or a
 * planted symlink must not turn delete into `rm -rf` elsewhere.
 */
async function removeSnapshotFolder(root: string, key: SnapshotKey, own: (entry: string) => boolean): Promise<void> {
  const dir = folderOf(root, key);
  const expected = snapshotFolder(root, key.server, key.name);
  const info = await lstat(dir).catch(orNull);
  if (!info) return;
  const rootReal = await realpath(root).catch(() => resolve(root));
  const real = await realpath(dir);
  const wanted = join(rootReal, key.server, key.name);
  if (dir !== expected || real !== wanted || !info.isDirectory()) refuse(dir, `it is not ${wanted}`);
  const strangers = (await readdir(dir)).filter((e) => !own(e));
  if (strangers.length > 0) refuse(dir, `it holds files snapbot did not write (${strangers.slice(0, 3).join(", ")})`);
  await rm(dir, { recursive: true, force: true });
}

function refuse(dir: string, why: string): never {
  throw new UserError("unsafe_delete", `refusing to delete ${dir}: ${why}; remove it by hand if it really is a snapshot`);
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
}

async function folders(path: string): Promise<string[]> {
  const entries = await readdir(path, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) =>
    e.code === "ENOENT" ? [] : Promise.reject(e),
  );
  return entries.filter((e) => e.isDirectory() && NAME_PATTERN.test(e.name) && !e.name.includes("..")).map((e) => e.name).sort();
}
