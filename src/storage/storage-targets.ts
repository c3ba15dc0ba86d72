import type { Logger } from "pino";
import { LOCAL_TARGET, type StorageSettings, type TargetSettings } from "../config/storage-schema.ts";
import { UserError } from "../errors.ts";
import { createLocalPartStore } from "./local-part-store.ts";
import type { PartStore } from "./part-store.ts";

// The named storage targets of `storage.targets` (DESIGN.md §3): each is a PartStore — a folder (a shared
// mount) or an S3 bucket — with its own retention. A server stores to one of them (`store:`, storage.path by
// default) and copies to others (`copies:`). Built once at start-up from the validated config.

/** Files besides parts and the manifest that drivers put in a snapshot (README.txt, metadata.json): copied with it. */
export const SIDE_FILES: readonly string[] = ["README.txt", "metadata.json"];

export interface StorageTarget {
  name: string;
  /** "local" (a folder) or "s3", for messages. */
  kind: string;
  store: PartStore;
  /** The target's own retention (`keep:`, restic semantics), or null: copies there are kept until deleted. */
  keep: string | null;
}

export interface StorageTargets {
  /** The configured targets, sorted by name ("local", storage.path itself, is not one of them). */
  names(): string[];
  get(name: string): StorageTarget | undefined;
  /** The target, or a UserError naming the ones there are (a copy to an unknown target). */
  need(name: string): StorageTarget;
}

export interface StorageTargetDeps {
  fsync: boolean;
  env: Record<string, string | undefined>;
  log: Logger;
}

export function createStorageTargets(settings: StorageSettings, deps: StorageTargetDeps): StorageTargets {
  const targets = new Map<string, StorageTarget>();
  for (const [name, t] of Object.entries(settings.targets)) targets.set(name, { name, kind: t.s3 ? "s3" : "local", store: storeOf(name, t, deps), keep: t.keep ?? null });
  const names = [...targets.keys()].sort();
  return {
    names: () => names,
    get: (name) => targets.get(name),
    need(name) {
      const t = targets.get(name);
      if (t) return t;
      const known = names.length ? `targets: ${names.join(", ")}` : "no storage.targets are configured";
      throw new UserError("unknown_target", `no storage target "${name}" (${known}): add it under storage.targets in snapbot.yml`);
    },
  };
}

function storeOf(name: string, t: TargetSettings, deps: StorageTargetDeps): PartStore {
  if (t.path !== undefined) return createLocalPartStore(t.path, { fsync: deps.fsync, ownEntry: (e) => SIDE_FILES.includes(e) });
  // Filled in by the S3 store (src/storage/s3-part-store.ts).
  throw new UserError("bad_config", `storage.targets.${name}: s3 targets are not available in this build yet; use path: for now`);
}

export { LOCAL_TARGET };
