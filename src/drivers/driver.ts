import type { Logger } from "pino";
import type { Runner } from "../transport/runner.ts";

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
}

export interface CreateRequest {
  server: string;
  name: string;
  createdAt: number; // ms since epoch, from the engine's clock
  stateful: boolean;
  note?: string;
}

export interface PartInfo {
  file: string; // relative to the snapshot folder
  size: number;
  sha256: string;
}

export interface CreateResult {
  location: string | null;
  size: number; // bytes stored
  checksum: string | null; // "sha256:<hex>" of the whole stored stream
  parts: PartInfo[];
  details?: Record<string, unknown>; // compression, source… stored as JSON in the ledger
}

export interface VerifyResult {
  ok: boolean;
  problems: string[]; // one line each: "part-000001 is missing", "manifest.json is missing"…
  checkedBytes: number;
}

/** What start-up reconciliation finds where a writer died: nothing, some parts without a manifest, or complete. */
export type Leftover = "nothing" | "partial" | "complete";

export interface SnapshotDriver {
  readonly kind: string;
  create(req: CreateRequest, ctx: DriverContext): Promise<CreateResult>;
  delete(snap: SnapshotHandle, ctx: DriverContext): Promise<void>;
  /** Cheap structural check after create (files present, sizes right): the ledger says done only if it passes. */
  check?(snap: SnapshotHandle, result: CreateResult): Promise<VerifyResult>;
  verify?(snap: SnapshotHandle, ctx: DriverContext): Promise<VerifyResult>;
  leftover?(snap: SnapshotHandle): Promise<Leftover>;
  // Capabilities that arrive with later issues:
  /** Puts the snapshot back (verifying it first where the backend can); returns one line for the ledger. */
  restore?(snap: SnapshotHandle, opts: Record<string, unknown>, ctx: DriverContext): Promise<{ summary: string }>;
  copy?(snap: SnapshotHandle, target: string, ctx: DriverContext): Promise<void>;
  clone?(snap: SnapshotHandle, newServer: string, ctx: DriverContext): Promise<void>;
  export?(snap: SnapshotHandle, format: string, ctx: DriverContext): Promise<{ file: string; sha256: string }>;
  listBackend?(ctx: DriverContext): Promise<Array<{ name: string; createdAt: number }>>;
}

export const CAPABILITIES = ["verify", "restore", "copy", "clone", "export", "listBackend"] as const;
export type Capability = (typeof CAPABILITIES)[number];

export function can(driver: SnapshotDriver, cap: Capability): boolean {
  return typeof driver[cap] === "function";
}

export interface DriverDeps {
  runner: Runner;
  storageDir: string;
  fsync: boolean;
  log: Logger;
}
