import { createHash } from "node:crypto";
import { z } from "zod";
import type { CreateRequest, DriverContext, DriverModule, SnapshotDriver, SnapshotHandle } from "../../src/drivers/driver.ts";
import type { Runner } from "../../src/transport/runner.ts";
import { BackendError } from "../../src/errors.ts";
import { hooksSetting } from "../../src/drivers/shared/common-settings.ts";

// A real in-memory backend for the driver contract (test/contract/): each server has a value ("the data")
// and a table of snapshots of it. Switches make it fail or hang; a hang is a real child process (`sh -c
// "sleep …"` through the runner, with the operation's signal), so timeouts and cancels are proven on it.

export interface FakeBackend {
  /** The live data of each server, as restore writes it back. */
  data: Map<string, string>;
  /** server → snapshot name → the data it holds. */
  snapshots: Map<string, Map<string, string>>;
  /** Set: every create fails with this message (the backend's own words). */
  fail: string | null;
  /** Set: every create hangs in a child process whose argv carries this marker. */
  hang: string | null;
  /** Set: every restore hangs the same way (an approved operation, run later, must keep its server's timeout). */
  hangRestore?: string | null;
}

export function fakeBackend(): FakeBackend {
  return { data: new Map(), snapshots: new Map(), fail: null, hang: null };
}

const settings = z
  .object({
    driver: z.literal("fake"),
    channel: z.string().min(1).optional(),
    limit: z.number().int().positive().default(50),
    timeout: z.union([z.number(), z.string()]).optional(),
    sensitive: z.boolean().optional(),
    hooks: hooksSetting.optional(), // the engine runs them for every driver
  })
  .strict();
export type FakeSettings = z.infer<typeof settings>;

const digest = (s: string) => createHash("sha256").update(s).digest("hex");

/** The fake as a DriverModule: `driver: fake` servers; create, delete, check, verify, restore; no export, copy, clone. */
export function fakeDriverModule(backend: FakeBackend): DriverModule<FakeSettings> {
  return {
    kind: "fake",
    summary: "an in-memory backend for the driver contract tests",
    settings,
    features: {},
    create: (server, deps) => fakeDriver(server.name, backend, deps.runner),
  };
}

function fakeDriver(server: string, backend: FakeBackend, runner: Runner): SnapshotDriver {
  const table = () => {
    let t = backend.snapshots.get(server);
    if (!t) backend.snapshots.set(server, (t = new Map()));
    return t;
  };
  const held = (snap: SnapshotHandle) => {
    const v = table().get(snap.name);
    if (v === undefined) throw new BackendError("missing", `${server}/${snap.name} is not in the fake backend`);
    return v;
  };
  return {
    kind: "fake",
    features: {},
    async create(req: CreateRequest, ctx: DriverContext) {
      if (backend.hang) await runner.run("sh", ["-c", "sleep 3600", backend.hang], { signal: ctx.signal });
      if (backend.fail) throw new BackendError("fake_failed", backend.fail);
      if (table().has(req.name)) throw new BackendError("exists", `${server}/${req.name} already exists in the fake backend`);
      const value = backend.data.get(server) ?? "";
      table().set(req.name, value);
      const size = Buffer.byteLength(value);
      return { location: null, size, checksum: `sha256:${digest(value)}`, parts: [], details: { fake: true } };
    },
    async delete(snap) {
      table().delete(snap.name);
    },
    async check(snap) {
      const ok = table().has(snap.name);
      return { ok, problems: ok ? [] : [`${snap.name} is not in the fake backend`], checkedBytes: 0 };
    },
    async verify(snap) {
      const v = table().get(snap.name);
      return v === undefined
        ? { ok: false, problems: [`${snap.name} is not in the fake backend`], checkedBytes: 0 }
        : { ok: true, problems: [], checkedBytes: Buffer.byteLength(v) };
    },
    async describeRestore(snap) {
      return { writes: `the data of ${server} (replaced by ${snap.name}'s)`, notes: [], bytes: Buffer.byteLength(held(snap)) };
    },
    async restore(snap, _opts, ctx) {
      if (backend.hangRestore) await runner.run("sh", ["-c", "sleep 3600", backend.hangRestore], { signal: ctx.signal });
      backend.data.set(server, held(snap));
      return { summary: `restored the data of ${server} from ${snap.name}` };
    },
  };
}
