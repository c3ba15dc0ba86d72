import { execFileSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeSync } from "node:fs";
import { join, relative } from "node:path";
import type { TargetSettings } from "../../src/config/storage-schema.ts";
import { mountTmpfs } from "./cleanup.ts";

// A storage target as the copy cases (test/engine/copies/copy-cases.ts) drive it: each kind of target — a folder
// today, an S3 bucket on Ceph's RADOS Gateway when the S3 store lands — gives its config, lists and alters what it
// holds behind snapbot's back, and makes itself refuse writes or fill up. The cases are the same for every kind.

export interface FaultyTarget {
  config: TargetSettings;
  /** What the failure's one line says, in the target's own words. */
  why: RegExp;
  /** Undoes the fault (writable again, space freed): a later copy must succeed. */
  release(): void | Promise<void>;
}

export interface TargetFactory {
  /** As the tests' titles name it: "folder", "S3 on Ceph's RADOS Gateway". */
  name: string;
  /** Starts what the target needs in `dir`; under CI=true a target that cannot run here throws (never skips). */
  setup(dir: string): void | Promise<void>;
  teardown?(): void | Promise<void>;
  /** A fresh place per label (its own folder, its own key prefix), as storage.targets.<t> takes it. */
  config(label: string): TargetSettings;
  /** Environment variables the config's credentials name. */
  env?(): Record<string, string>;
  /** What the target holds for <server>/<snap> under `label`, as names relative to the copy (".parts/part-000000", "manifest.json"…). */
  objects(label: string, server: string, snap: string): Promise<string[]>;
  /** Flips one byte in the middle of a part of the copy, its size unchanged. */
  tamper(label: string, server: string, snap: string, file: string): Promise<void>;
  /** Removes one object of the copy. */
  drop(label: string, server: string, snap: string, file: string): Promise<void>;
  /** A target that refuses every write (a read-only mount; an S3 user without write rights). */
  refusing(label: string): Promise<FaultyTarget>;
  /** A target with room for less than one snapshot (a small tmpfs; a bucket quota). */
  full(label: string, bytes: number): Promise<FaultyTarget>;
}

/** storage.targets.<t>: { path: … } — a folder (a mounted share in production). */
export function folderTarget(): TargetFactory {
  let root = "";
  const place = (label: string) => join(root, label);
  const copyDir = (label: string, server: string, snap: string) => join(place(label), server, snap);
  const mounts: Array<{ unmount(): void }> = [];
  return {
    name: "folder",
    setup(dir) {
      root = join(dir, "targets");
      mkdirSync(root, { recursive: true });
    },
    teardown: () => mounts.forEach((m) => m.unmount()),
    config: (label) => ({ path: place(label) }),
    async objects(label, server, snap) {
      const dir = copyDir(label, server, snap);
      if (!existsSync(dir)) return [];
      return readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(dir, join(e.parentPath, e.name)))
        .sort();
    },
    async tamper(label, server, snap, file) {
      const path = join(copyDir(label, server, snap), file);
      const fd = openSync(path, "r+");
      const one = Buffer.alloc(1);
      readSync(fd, one, 0, 1, 100);
      writeSync(fd, Buffer.from([one[0]! ^ 0xff]), 0, 1, 100);
      closeSync(fd);
    },
    async drop(label, server, snap, file) {
      rmSync(join(copyDir(label, server, snap), file));
    },
    async refusing(label) {
      const dir = place(label);
      mounts.push(mountTmpfs(dir, 64));
      execFileSync("mount", ["-o", "remount,ro", dir]); // as root, permission bits stop nothing: a read-only mount does
      return { config: { path: dir }, why: /read-only file system/i, release: () => void execFileSync("mount", ["-o", "remount,rw", dir]) };
    },
    async full(label, bytes) {
      const dir = place(label);
      const mib = Math.max(1, Math.floor(bytes / (1024 * 1024)));
      mounts.push(mountTmpfs(dir, mib));
      return { config: { path: dir }, why: /the target is full/, release: () => void execFileSync("mount", ["-o", "remount,size=256m", dir]) };
    },
  };
}
