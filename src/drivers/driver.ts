import type { Logger } from "pino";
import type { z } from "zod";
import type { StorageTargets } from "../storage/storage-targets.ts";
import type { PartStore } from "../storage/part-store.ts";
import type { StorageEncryption } from "../storage/encryption/at-rest.ts";
import type { Runner } from "../transport/runner.ts";
import type { SettingProblem } from "../config/setting-problem.ts";
import type { KeepPolicy } from "../retention/keep-policy.ts";

// One interface for every backend (DESIGN.md §1). Optional capabilities are optional methods: the engine
// answers "web-1 (lxd) cannot export" from their absence, never from a crash.

export interface Progress {
  stage: string; // "archiving", "verifying", "deleting"…
  bytes?: number; // bytes produced so far
  totalBytes?: number; // when known, for a percentage
  message?: string;
}

export interface DriverContext {
  signal: AbortSignal; // aborted on timeout or cancel: stop child processes, clean up, throw
  progress(p: Progress): void;
  log: Logger;
}

/** What a driver needs to know about one snapshot it made (or imported). */
export interface SnapshotHandle {
  server: string;
  name: string;
  location: string | null; // where the driver keeps it (a folder for archives); null for backend-native
  createdAt: number;
  /** What create returned as details (mode, vm-state size…), as the ledger keeps them; absent when unknown. */
  details?: Record<string, unknown> | null;
  /** Bytes recorded at create (null when the backend did not say). */
  size?: number | null;
}

export interface CreateRequest {
  server: string;
  name: string;
  createdAt: number; // ms since epoch, from the engine's clock
  stateful: boolean;
  note?: string;
  /** When the snapshot expires (ms since epoch), for backends that keep an expiry themselves (LXD). */
  expiresAt?: number | null;
}

export interface PartInfo {
  file: string; // relative to the snapshot folder
  size: number;
  sha256: string;
}

export interface CreateResult {
  location: string | null;
  size: number | null; // bytes stored; null when the backend does not say
  checksum: string | null; // "sha256:<hex>" of the whole stored stream
  parts: PartInfo[];
  details?: Record<string, unknown>; // compression, source… stored as JSON in the ledger
}

export interface VerifyResult {
  ok: boolean;
  problems: string[]; // one line each: "part-000001 is missing", "manifest.json is missing"…
  checkedBytes: number;
  /** verify --full: what was read beyond the parts' hashes ("decrypted (age MAC checked) and decompressed: …"). */
  notes?: string[];
}

/** verify's options as typed. */
export interface VerifyOptions {
  /** --full: also decrypt the whole stream (age's MAC) and decompress it, not only re-hash the parts. */
  full?: boolean;
}

/** restore's options as the command was typed (DESIGN.md §1a), not the audit log's JSON. */
export interface RestoreOptions {
  /** --target: an absolute folder on the server written, instead of the snapshot's own places. */
  target?: string;
  /** --to: this driver's server receives another server's snapshot (the name of the server written). */
  to?: string;
  /** --force: application state onto a target that is not clean (only drivers with features.restoreForce). */
  force?: boolean;
}

/** What a restore will write, as the dry run, the approval request and the result all say it. */
export interface RestoreDescription {
  /** The places written and how, one line: "/etc, /srv on files-1: 12.0 MiB (files in the snapshot are overwritten…)". */
  writes: string;
  /** Anything else to know before approving: "every part is verified again first", "--target / is the root…". */
  notes: string[];
  /** The bytes written: the uncompressed stream, the image's size; null when the backend does not say. */
  bytes: number | null;
}

/** What a driver can do beyond its methods, asked by commands and the engine instead of its name. */
export interface DriverFeatures {
  /** restore --force means something: the driver checks that the target is clean and can say why not. */
  restoreForce?: boolean;
  /** create --stateful: the snapshot can include the running state (memory) of the instance or VM. */
  stateful?: boolean;
  /** Snapshots form a tree (parent, current position): list --tree, revert, delete --subtree (qemu). */
  trees?: boolean;
  /** The backend keeps the snapshots itself and a server has `limit:` of them (LXD, qemu). */
  limit?: boolean;
  /** Snapshots hold secrets: encrypted at rest by default (Consul, command; issue 12). */
  sensitive?: boolean;
  /** verify --full means something: the stored stream can be decrypted and decompressed to its end. */
  verifyFull?: boolean;
  /** export --format: the formats this driver writes (absent or empty: it cannot export). */
  exportFormats?: readonly ExportFormat[];
}

/** export --format (DESIGN.md §2): standalone disk images. */
export const EXPORT_FORMATS = ["vmdk", "vhd", "qcow2"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportResult {
  file: string; // absolute path of the written image (0600)
  sha256: string; // of the whole file, hex
  size?: number;
}

/** What start-up reconciliation finds where a writer died: nothing, some parts without a manifest, or complete. */
export type { Leftover } from "../storage/part-store.ts";
import type { Leftover } from "../storage/part-store.ts";

export interface SnapshotDriver {
  readonly kind: string;
  readonly features?: DriverFeatures;
  create(req: CreateRequest, ctx: DriverContext): Promise<CreateResult>;
  delete(snap: SnapshotHandle, ctx: DriverContext): Promise<void>;
  /** Cheap structural check after create (files present, sizes right): the ledger says done only if it passes. */
  check?(snap: SnapshotHandle, result: CreateResult): Promise<VerifyResult>;
  verify?(snap: SnapshotHandle, ctx: DriverContext, opts?: VerifyOptions): Promise<VerifyResult>;
  leftover?(snap: SnapshotHandle): Promise<Leftover>;
  /**
   * At register: a cheap look at the backend that the settings name something real (LXD: the instance
   * exists). Throws a UserError saying what to fix; any other error means "could not check".
   */
  probe?(ctx: DriverContext): Promise<void>;
  // Capabilities that arrive with later issues:
  /** Puts the snapshot back (verifying it first where the backend can); returns one line for the ledger. */
  restore?(snap: SnapshotHandle, opts: RestoreOptions, ctx: DriverContext): Promise<{ summary: string }>;
  /**
   * With restore: what it would write, without writing (the dry run and the approval request show it). Throws a
   * UserError for options the driver refuses (--target on LXD, --to between servers that cannot take it).
   */
  describeRestore?(snap: SnapshotHandle, opts: RestoreOptions): Promise<RestoreDescription>;
  /** Copies a snapshot to another backend server (LXD: a remote); a later copy refreshes the earlier one. */
  copy?(snap: SnapshotHandle, target: CopyTarget, ctx: DriverContext): Promise<CopyResult>;
  /** With copy: where `copy <snap> [<given>]` goes (`<remote>[:<name>]`, or the server's default); throws a UserError if none. */
  copyTarget?(given: string | undefined): CopyTarget;
  /**
   * With copy: the keep policy of the place copies go by default, its own and not the server's schedule's
   * (LXD: snapshot_server_keep for the snapshot server); null when that place has none.
   */
  copyRetention?(): CopyRetention | null;
  /** With copyRetention: the server's copies there, as that place lists them (the ledger does not hold them). */
  listCopies?(ctx: DriverContext): Promise<RemoteCopy[]>;
  /** With copyRetention: removes one copy listCopies gave; never a snapshot of the server itself. Gone already is done. */
  removeCopy?(copy: RemoteCopy, ctx: DriverContext): Promise<void>;
  /** A new instance from the snapshot; returns the settings to register it as a server. */
  clone?(snap: SnapshotHandle, newServer: string, ctx: DriverContext): Promise<{ settings: Record<string, unknown> }>;
  export?(snap: SnapshotHandle, format: ExportFormat, ctx: DriverContext): Promise<ExportResult>;
  /** With export: throws a UserError, before any work, when this snapshot cannot be exported (archive: a tar one). */
  checkExport?(snap: SnapshotHandle, format: ExportFormat): void;
  /** The snapshots the backend itself holds, made by snapbot or not (LXD: lxc snapshot, snapshots.schedule). */
  listBackend?(ctx: DriverContext): Promise<BackendSnapshot[]>;
  /** The backend's own schedule (LXD: snapshots.schedule, .pattern, .expiry on the instance); null removes it. */
  nativeSchedule?(schedule: NativeSchedule | null, ctx: DriverContext): Promise<void>;
  /** The SSH host keys the server presents now. */
  hostKeys?(ctx: DriverContext): Promise<HostKey[]>;
  /** Removes and regenerates the SSH host keys (restarting sshd where one runs); returns the new ones. */
  regenHostKeys?(ctx: DriverContext): Promise<HostKey[]>;
  /** SSH servers: the keys presented now, without checking them against the recorded ones. */
  presentedHostKeys?(ctx: DriverContext): Promise<HostKey[]>;
  /** SSH servers: an admin accepted these keys; they replace snapbot's known_hosts entry. */
  acceptHostKeys?(keys: HostKey[]): Promise<void>;
  /**
   * Where the server's commands run, when that is not snapbot's machine (host: ssh://…): the engine runs the
   * server's hooks through it. Absent: the hooks run locally, beside snapbot.
   */
  runner?(): Runner;
  /** Where the server is reached (ssh: address:port per resolved address): servers sharing one are one machine. */
  endpoints?(): Promise<string[]>;
  /**
   * Stored snapshots (parts + manifest in a PartStore: archive now, consul and command with their drivers): the
   * store holding this one. The engine asks for it instead of a driver's name: with it a snapshot can be copied to
   * a storage target (copy, `copies:`); backend-native drivers (LXD, qemu) keep their snapshots on the backend and
   * lack it, which is their one-line refusal.
   */
  storedIn?(snap: SnapshotHandle): PartStore;
  /** With storedIn: this driver reading (and writing) its snapshots in another store, so restore|verify --from <target> use the copy there. */
  withStore?(store: PartStore): SnapshotDriver;
  /** Every snapshot in the storage this driver writes to, whoever's (archive: <storage.path>/<server>/<snap>). */
  scanStorage?(ctx: DriverContext): Promise<StoredSnapshot[]>;
  /** Removes one stored snapshot scanStorage found (partial ones too); refuses anything it never writes. */
  removeStored?(found: StoredSnapshot, ctx: DriverContext): Promise<void>;
}

/**
 * A snapshot found in storage, as its own files describe it (the ledger may not know it: a lost ledger).
 * complete: the manifest is valid and every part is there with its size (adopt re-hashes every byte);
 * partial: parts without a manifest; invalid: a manifest that is malformed, names another snapshot, or
 * parts missing or of the wrong size. Only complete ones can be adopted; all can be removed.
 */
export interface StoredSnapshot {
  server: string;
  name: string;
  location: string;
  status: "complete" | "partial" | "invalid";
  problem: string | null; // why not complete, one line
  size: number | null;
  checksum: string | null;
  parts: PartInfo[];
  createdAt: number | null;
  finishedAt: number | null;
  details?: Record<string, unknown>;
}

export interface CopyTarget {
  remote: string; // an LXD remote name (the snapshot server)
  name: string; // the instance name there (default: the source instance's)
}

export interface CopyResult {
  summary: string; // one line for the ledger: where it went and how
  refreshed: boolean; // the target existed and was refreshed rather than created
  warnings: string[]; // e.g. a profile that differs on the target (reported, not overwritten)
}

/** Where a driver's copies are kept under a policy of their own (copyRetention). */
export interface CopyRetention {
  where: string; // "snap": the LXD remote, for replies and the audit log
  keep: KeepPolicy;
}

/** One copy of a snapshot kept on another backend (LXD: the snapshot server), outside the ledger. */
export interface RemoteCopy {
  where: string; // how the backend names it: "snap:web-1/s1", "snap:web-1-s1"
  snapshot: string; // the name of the snapshot it is a copy of
  createdAt: number; // when that snapshot was taken (ms): retention periods count from it, as for the snapshot
}

export interface BackendSnapshot {
  name: string;
  createdAt: number;
  expiresAt: number | null;
  stateful: boolean;
  size: number | null;
  /** Drivers with features.trees: the parent's name as the backend records it (libvirt); undefined when it keeps none (qemu-img). */
  parent?: string | null;
  /** Drivers with features.trees: the backend's current snapshot (libvirt snapshot-current). */
  current?: boolean;
  /** Anything else worth keeping in the ledger's details (vm_state_size…). */
  details?: Record<string, unknown>;
}

export interface HostKey {
  type: string; // ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256…
  fingerprint: string; // SHA256:<base64>, as ssh-keygen -l prints it
  publicKey: string; // the .pub line
}

export const CAPABILITIES = ["verify", "restore", "copy", "clone", "export", "listBackend", "hostKeys", "regenHostKeys"] as const;
export type Capability = (typeof CAPABILITIES)[number];

export function can(driver: SnapshotDriver, cap: Capability): boolean {
  return typeof driver[cap] === "function";
}

export interface DriverDeps {
  runner: Runner;
  storageDir: string;
  fsync: boolean;
  log: Logger;
  /** Where stored snapshots (archive parts) go; absent: the local folder storageDir (with fsync as above). */
  store?: PartStore;
  /** The named storage targets (storage.targets): a server's `store:` is one of them. */
  targets?: StorageTargets;
  /** storage.encryption: the recipients new sensitive snapshots are encrypted to, the identity that reads them back. */
  encryption?: StorageEncryption;
  /** Where credentials a driver's settings name (consul's token_env) are read: the app's env (process.env unless given). */
  env?: Readonly<Record<string, string | undefined>>;
  /** This server's new snapshots are encrypted at rest (its `sensitive:` setting, else features.sensitive). */
  sensitive?: boolean;
}

/** One registered server as its driver's factory receives it: its name and its validated settings. */
export interface DriverServer<S> {
  name: string;
  settings: S;
}

/**
 * A driver as the platform knows it (DESIGN.md §1a): its settings schema (composed into the config schema,
 * so its keys live in its folder), its features, and its factory. A new driver is a folder with one of these
 * and a line in BUILTIN_DRIVERS (src/drivers/index.ts).
 */
export interface DriverModule<S extends { driver: string } = { driver: string }> {
  readonly kind: string;
  /** One line for help and `servers`: what the driver snapshots. */
  readonly summary: string;
  /** A strict zod object with `driver: z.literal(kind)` and the server's keys, defaults applied. */
  readonly settings: z.ZodType<S>;
  /** What every server of this driver can do (a driver instance may narrow it from its settings). */
  readonly features: DriverFeatures;
  create(server: DriverServer<S>, deps: DriverDeps): SnapshotDriver;
  /**
   * The rules beyond the schema's shape (paths absolute and present, sizes in bounds), each a line that says
   * what to write instead; the config loader and `register` refuse the first. The ssh rules (host, ssh_key)
   * apply to every driver with a `host` and are checked by the platform.
   */
  settingProblems?(settings: S): SettingProblem[];
  /** One short line for `servers`' "what" column: what the server's snapshots hold ("tar /etc, /srv on ssh://…"). */
  describe?(settings: S): string;
}

export interface NativeSchedule {
  cron: string;
  pattern: string | null;
  expiry: string | null;
}
