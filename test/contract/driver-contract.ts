import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DriverModule, SnapshotDriver } from "../../src/drivers/driver.ts";
import type { Reply } from "../../src/reply.ts";
import { testApp } from "../helpers/test-app.ts";
import { recordingChat } from "../helpers/recording-chat.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { alive, processTree, waitFor } from "../helpers/process-tree.ts";
import { hooksCases } from "./hooks-contract.ts";

// ONE driver contract (Kysely-style): the same cases, typed as users type them, through the real command layer,
// engine and ledger, against every driver. A driver joins with one small file:
//
//   import { driverContract } from "./driver-contract.ts";
//   driverContract({ kind: "qemu", title: "qemu (offline image)", setup, teardown, server, failing, hanging, lacks, content });
//
// What a DriverCase must provide (everything is called after setup() resolved):
//   kind      the driver's kind as replies name it: "vm-db (qemu) cannot export…".
//   setup     start what the backend needs (daemons, a VM, folders) in `dir`, a fresh folder for this file;
//             teardown undoes it. When the backend cannot run here, setup throws under CI=true (never skip).
//   server()  the server the walk-through uses: its name and its config as the YAML would be.
//   content   (with restore) write/read the server's data: a value written, snapshotted, overwritten and
//             restored must read back. Omit it only when the backend has no data a test can reach.
//   failing   a create that fails: a server whose create fails (a missing path, a missing instance), and/or
//             arm()/disarm() switches around it (stop an instance, the fake's failure switch).
//   hanging   a create that never ends: server(timeoutS) with that `timeout:` whose create blocks in a child
//             process whose command line carries marker() (a FIFO's path, a fake tool's folder on PATH…);
//             arm()/disarm() around it. The cases check with `ps` that this process tree is gone afterwards.
//             remoteOutlives: why the processes on another host stay: then only this machine's side (the
//             processes started from the test) must be gone. connections(): for a hang on a socket inside
//             snapbot's own process (QMP), the open connections: one while hung, none afterwards.
//   lacks     the optional capabilities it does not have; checked against the driver's methods and features,
//             and each answered with one line "<server> (<kind>) cannot …".
//   drivers() extra DriverModules the app needs (the fake); built-in drivers need nothing.
// Each case gets a fresh app (its own ledger and job runner: cancelAll stops a runner for good). Until testApp
// takes { drivers } (the driver platform), the app comes from the shim test/helpers/contract-app.ts.

export type Capability = "restore" | "export" | "copy" | "clone" | "stateful";
export interface ContractServer {
  name: string;
  config: Record<string, unknown>;
}
interface Switches {
  arm?(): void | Promise<void>;
  disarm?(): void | Promise<void>;
}
export interface DriverCase {
  kind: string;
  title: string;
  setup(dir: string): void | Promise<void>;
  teardown?(): void | Promise<void>;
  server(): ContractServer;
  content?: { write(value: string): void | Promise<void>; read(): string | Promise<string> };
  failing: Switches & { server?(): ContractServer };
  hanging: Switches & {
    server(timeoutS: number): ContractServer;
    marker(): string;
    remoteOutlives?: string;
    /** A hang inside snapbot's own process on a socket (QMP): no child to see, so the open connections are counted. */
    connections?: () => number;
  };
  lacks: Capability[];
  drivers?(): DriverModule[];
  /** More of storage: than the local folder (storage.targets, for a server with store:), and the env it reads. */
  storage?(): Record<string, unknown>;
  env?(): Record<string, string>;
}

// How each capability is asked for, and the start of its one-line refusal.
const ASK: Record<Capability, { command: (ref: string, server: string) => string; cannot: string }> = {
  restore: { command: (ref) => `restore ${ref}`, cannot: "cannot restore snapshots" },
  export: { command: (ref) => `export ${ref} --format qcow2`, cannot: "cannot export snapshots" },
  copy: { command: (ref) => `copy ${ref} elsewhere`, cannot: "cannot copy snapshots" },
  clone: { command: (ref, server) => `clone ${ref} ${server}-clone`, cannot: "cannot clone snapshots" },
  stateful: { command: (_ref, server) => `create ${server} contract-stateful --stateful`, cannot: "cannot take stateful snapshots" },
};
const CAPABILITIES = Object.keys(ASK) as Capability[];

/** What the driver says of itself: a method, or (stateful) a feature. */
function has(driver: SnapshotDriver, cap: Capability): boolean | undefined {
  if (cap !== "stateful") return typeof driver[cap] === "function";
  return !!driver.features?.stateful;
}

const re = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const ROLES = { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] };
const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};
/** The final reply, or a clear failure when the work does not end soon after it was stopped (a driver ignoring its signal). */
const ended = (r: Reply, after: string) =>
  Promise.race([
    done(r),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the job did not end within 15 s of ${after}: does the driver pass ctx.signal on?`)), 15_000).unref()),
  ]);
const approvalOf = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? NaN);

export function driverContract(c: DriverCase): void {
  describe(`driver contract: ${c.title}`, () => {
    const root = tempDir(`snapbot-contract-${c.kind}-`);
    let n = 0;
    beforeAll(() => c.setup(root), 180_000);
    afterAll(() => c.teardown?.(), 180_000);

    /** A fresh app (own ledger, own job runner: cancelAll stops a runner for good) with these servers. */
    async function fresh(...servers: ContractServer[]) {
      const dir = join(root, `app-${++n}`);
      mkdirSync(dir, { recursive: true });
      const chat = recordingChat();
      const storage = { path: "snaps", ...c.storage?.() };
      const file = { roles: ROLES, alerts: { channel: "C0ALERTS" }, storage, servers: Object.fromEntries(servers.map((s) => [s.name, s.config])) };
      const t = await testApp(dir, file, undefined, chat.port, { drivers: c.drivers?.() ?? [], env: c.env?.() });
      const server = async (name: string) => {
        const row = await t.app.ledger.servers.get(name);
        if (!row) throw new Error(`no server ${name} in the ledger`);
        return row;
      };
      const rows = async (name: string, snapshot: string) =>
        (await t.app.ledger.snapshots.list((await server(name)).id, { all: true, limit: 100, offset: 0 })).rows.filter((r) => r.name === snapshot);
      return { ...t, chat, rows, driver: async (name: string) => t.app.drivers.get(await server(name)) };
    }

    walkThrough(c, fresh);
    failures(c, fresh);
    hooksCases(c, fresh, () => root);
    lacking(c, fresh);
  });
}

export type Fresh = (...servers: ContractServer[]) => Promise<Awaited<ReturnType<typeof testApp>> & {
  chat: ReturnType<typeof recordingChat>;
  rows(server: string, name: string): Promise<Array<{ state: string }>>;
  driver(name: string): Promise<SnapshotDriver>;
}>;

/** create → list → show → verify → restore (where the driver has it) → delete, one app throughout. */
function walkThrough(c: DriverCase, fresh: Fresh): void {
  describe("walk-through", () => {
    let t: Awaited<ReturnType<Fresh>>;
    let name = "";
    const ref = () => `${name}/s1`;
    beforeAll(async () => {
      name = c.server().name;
      t = await fresh(c.server());
    });
    afterAll(() => t?.app.close());

    it("create makes a done snapshot", async () => {
      await c.content?.write("contract-A");
      const final = await done(await t.run(`create ${name} s1`, "U0OP"));
      expect(final).toMatchObject({ tone: "success", title: expect.stringMatching(new RegExp(`^${re(name)}/s1 done: `)) });
      expect((await t.rows(name, "s1")).map((r) => r.state)).toEqual(["done"]);
    });

    it("list shows it done", async () => {
      const list = await t.run(`list ${name}`);
      expect(list.table?.rows).toContainEqual(expect.arrayContaining(["s1", "done"]));
    });

    it("show describes it", async () => {
      const show = await t.run(`show ${ref()}`);
      expect(show.tone).not.toBe("error");
      expect(JSON.stringify(show)).toContain("s1");
      expect(JSON.stringify(show)).toContain("done");
    });

    it("verify passes", async () => {
      expect((await done(await t.run(`verify ${ref()}`))).tone).toBe("success");
      expect((await t.rows(name, "s1"))[0]).toMatchObject({ state: "done", verified_at: expect.any(Number) });
    });

    if (!c.lacks.includes("restore"))
      it("restore puts it back after a second person approves", async () => {
      await c.content?.write("contract-B");
      const request = await t.run(`restore ${ref()}`, "U0OP");
      expect(request.title).toMatch(new RegExp(`^Approval needed: restore ${re(name)}/s1`));
      expect(await t.run(`approve ${approvalOf(request)}`, "U0OP")).toMatchObject({ tone: "error" }); // not by the requester
      if (c.content) expect(await c.content.read()).toBe("contract-B"); // nothing before approval
      const final = await done(await t.run(`approve ${approvalOf(request)}`, "U0ALICE"));
      expect(final).toMatchObject({ tone: "success", title: expect.stringMatching(/approved by U0ALICE\)$/) });
      if (c.content) expect(await c.content.read()).toBe("contract-A");
    });

    it("delete removes it", async () => {
      const final = await done(await t.run(`delete ${ref()}`, "U0OP"));
      expect(final.tone).toBe("success");
      expect((await t.rows(name, "s1")).map((r) => r.state)).toEqual(["deleted"]);
      expect((await t.run(`list ${name}`)).table?.rows ?? []).not.toContainEqual(expect.arrayContaining(["s1"]));
    });
  });
}

/** A failing create, a hung one killed at the timeout, a cancelled one: no done row, no process left. */
function failures(c: DriverCase, fresh: Fresh): void {
  describe("failures", () => {
    it("a create that fails leaves no done snapshot and raises snapshot_failed", async () => {
      const server = c.failing.server?.() ?? c.server();
      const t = await fresh(server);
      await c.failing.arm?.();
      try {
        const final = await done(await t.run(`create ${server.name} broken-1`, "U0OP"));
        expect(final).toMatchObject({ tone: "error", title: expect.stringMatching(new RegExp(`^create ${re(server.name)}/broken-1 failed`)) });
        expect((await t.rows(server.name, "broken-1")).map((r) => r.state)).toEqual(["failed"]);
        const alert = await waitFor("the snapshot_failed alert", () => t.chat.calls.find((x) => x.channel === "C0ALERTS"));
        expect(alert.reply.title).toMatch(new RegExp(`^snapshot_failed: snapshot ${re(server.name)}/broken-1 failed`));
      } finally {
        await c.failing.disarm?.();
        await t.app.close();
      }
    });

    it("a hung backend is killed at the server's timeout, with its child processes", async () => {
      const server = c.hanging.server(2);
      const t = await fresh(server);
      await c.hanging.arm?.();
      try {
        const reply = await t.run(`create ${server.name} hung-1`, "U0OP");
        // On a loaded machine the 2 s timeout can kill the backend before a poll has seen it: then there is nothing
        // to name, and what is checked is that none of it is left.
        const watching = hungProcesses(c);
        watching.catch(() => undefined);
        const seen = await Promise.race([watching, done(reply).then(() => [] as Array<{ pid: number }>)]);
        const final = await ended(reply, "its timeout");
        expect(final).toMatchObject({ tone: "error", lines: [expect.stringMatching(/^timed out after 2s: the operation was stopped/)] });
        expect((await t.rows(server.name, "hung-1")).map((r) => r.state)).toEqual(["failed"]);
        await allGone(c, seen);
      } finally {
        await c.hanging.disarm?.();
        await t.app.close();
      }
    });

    it("cancel stops the backend's processes and leaves no done snapshot", async () => {
      const server = c.hanging.server(600);
      const t = await fresh(server);
      await c.hanging.arm?.();
      try {
        const reply = await t.run(`create ${server.name} cancelled-1`, "U0OP");
        const seen = await hungProcesses(c);
        const stopping = t.app.cancelAll(); // resolves when every job ended
        const final = await ended(reply, "the cancel");
        await stopping;
        expect(final).toMatchObject({ tone: "error", lines: [expect.stringMatching(/^cancelled/)] });
        expect((await t.rows(server.name, "cancelled-1")).map((r) => r.state)).toEqual(["failed"]);
        await allGone(c, seen);
      } finally {
        await c.hanging.disarm?.();
        await t.app.close();
      }
    });
  });
}

/** The hung backend's processes once they run: all of them, or this machine's when the remote ones outlive a kill. */
const hungProcesses = async (c: DriverCase): Promise<Array<{ pid: number }>> => {
  const open = c.hanging.connections;
  if (open) return waitFor("the hung backend's connection", () => (open() > 0 ? [] : undefined));
  return waitFor("the hung backend's processes", () => {
    const found = processTree(c.hanging.marker(), { mine: !!c.hanging.remoteOutlives });
    return found.length ? found : undefined;
  });
};

async function allGone(c: DriverCase, seen: Array<{ pid: number }>): Promise<void> {
  const open = c.hanging.connections;
  if (open) {
    await waitFor("the hung backend's connection to close", () => (open() === 0 ? true : undefined));
    return;
  }
  await waitFor("the backend's processes to end", () => (seen.some((p) => alive(p.pid)) ? undefined : true));
  // A remote login shell stopped while still in its startup files (a slow ~/.bashrc: pyenv rehash) finishes them,
  // then dies writing its pid report to the closed session before it starts the command: give it that while.
  const left = () => processTree(c.hanging.marker(), { mine: !!c.hanging.remoteOutlives });
  await waitFor("no process of the backend left", () => (left().length === 0 ? true : undefined)).catch(() => undefined);
  expect(left()).toEqual([]);
}

/** Each capability the driver lacks: the case's list matches the driver, and each is refused in one line. */
function lacking(c: DriverCase, fresh: Fresh): void {
  describe("capabilities it lacks", () => {
    let t: Awaited<ReturnType<Fresh>>;
    let name = "";
    beforeAll(async () => {
      name = c.server().name;
      t = await fresh(c.server());
      const final = await done(await t.run(`create ${name} c1`, "U0OP"));
      if (final.tone !== "success") throw new Error(`create ${name} c1 failed: ${final.title} ${(final.lines ?? []).join(" / ")}`);
    });
    afterAll(async () => {
      await done(await t.run(`delete ${name}/c1`, "U0OP")).catch(() => undefined);
      await t?.app.close();
    });

    it("the case lists exactly what the driver's methods and features lack", async () => {
      const driver = await t.driver(name);
      expect(driver.kind).toBe(c.kind);
      for (const cap of CAPABILITIES) {
        const says = has(driver, cap);
        if (says !== undefined) expect({ cap, lacks: c.lacks.includes(cap) }).toEqual({ cap, lacks: !says });
      }
    });

    for (const cap of c.lacks)
      it(`${cap} is answered with one line: ${c.kind} cannot`, async () => {
        const r = await t.run(ASK[cap].command(`${name}/c1`, name), "U0OP");
        expect(r).toMatchObject({ tone: "error", title: expect.stringMatching(new RegExp(`^${re(name)} \\(${re(c.kind)}\\) ${ASK[cap].cannot}`)) });
        expect(r.lines ?? []).toEqual([]);
        expect(r.follow).toBeUndefined();
      });
  });
}
