import type { Logger } from "pino";
import { LOCAL_TARGET, type StorageSettings, type TargetSettings } from "../config/storage-schema.ts";
import { UserError } from "../errors.ts";
import { createLocalPartStore } from "./local-part-store.ts";
import type { PartStore } from "./part-store.ts";
import type { S3Tuning } from "./s3-client.ts";
import { createS3PartStore } from "./s3-part-store.ts";

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
  /** Lets go of the targets' connections (S3 keep-alive sockets) when the app closes. */
  close(): void;
}

export interface StorageTargetDeps {
  fsync: boolean;
  env: Record<string, string | undefined>;
  log: Logger;
  /** Request sizes, retries and timeouts of S3 targets (the defaults unless given: tests shorten the timeouts). */
  s3Tuning?: Partial<S3Tuning>;
}

export function createStorageTargets(settings: StorageSettings, deps: StorageTargetDeps): StorageTargets {
  const targets = new Map<string, StorageTarget>();
  const closers: Array<() => void> = [];
  for (const [name, t] of Object.entries(settings.targets)) targets.set(name, { name, kind: t.s3 ? "s3" : "local", store: storeOf(name, t, deps, closers), keep: t.keep ?? null });
  const names = [...targets.keys()].sort();
  return {
    names: () => names,
    close: () => closers.splice(0).forEach((c) => c()),
    get: (name) => targets.get(name),
    need(name) {
      const t = targets.get(name);
      if (t) return t;
      const known = names.length ? `targets: ${names.join(", ")}` : "no storage.targets are configured";
      throw new UserError("unknown_target", `no storage target "${name}" (${known}): add it under storage.targets in snapbot.yml`);
    },
  };
}

function storeOf(name: string, t: TargetSettings, deps: StorageTargetDeps, closers: Array<() => void>): PartStore {
  const ownEntry = (e: string) => SIDE_FILES.includes(e);
  if (t.path !== undefined || !t.s3) return createLocalPartStore(t.path ?? "", { fsync: deps.fsync, ownEntry });
  const credentials = { accessKeyId: credential(name, "access_key_env", t.s3.access_key_env, deps.env), secretAccessKey: credential(name, "secret_key_env", t.s3.secret_key_env, deps.env) };
  const store = createS3PartStore({ target: name, settings: t.s3, credentials, log: deps.log, ownEntry, tuning: deps.s3Tuning });
  closers.push(() => store.destroy());
  return store;
}

/** The value of the variable the config names; its absence stops start-up (the value is never shown). */
function credential(target: string, key: string, variable: string, env: Record<string, string | undefined>): string {
  const value = env[variable];
  if (value) return value;
  throw new UserError("bad_config", `storage.targets.${target}.s3.${key}: the environment variable ${variable} is not set: export it before starting snapbot`);
}

export { LOCAL_TARGET };
