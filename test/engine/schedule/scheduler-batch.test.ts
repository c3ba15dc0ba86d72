import { describe, expect, it, vi } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ServerRow } from "../../../db/types.ts";
import type { CreateAnswer } from "../../../src/engine/operations/create.ts";
import { errorMessage } from "../../../src/errors.ts";
import { fakeClock } from "../../../src/clock.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { describePostgres } from "../../helpers/postgres.ts";
import { freshDatabase } from "../../helpers/pg-ledger.ts";
import { fakeTreeBackend, fakeTreeDriverModule } from "../../helpers/fake-tree-driver.ts";

// The scheduler's runs due in one minute are recorded together (engine.createMany: one statement per step for the
// whole batch). Each run is still answered on its own: on both ledgers, real archive driver, fake clock.

const root = tempDir("snapbot-batch-");
const T0 = Date.UTC(2026, 0, 1, 0, 0, 30);
const DATED = "2026-01-01_00-00-30"; // the dated name a create without one gets at T0
const NAMES = ["free", "busy", "blocked", "named", "dated"] as const;
const ASKER = { user: "scheduler", channel: null };
let n = 0;

async function setup(postgres: string | undefined) {
  const dir = join(root, `app${++n}`);
  const servers: Record<string, { driver: string; paths?: string[] }> = { vm: { driver: "faketree" } }; // a backend with a snapshot limit
  for (const name of NAMES) {
    const src = join(dir, "src", name);
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "hosts"), "127.0.0.1 localhost\n");
    servers[name] = { driver: "archive", paths: [src] };
  }
  const clock = fakeClock(T0);
  const roles = { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] };
  const drivers = [fakeTreeDriverModule(fakeTreeBackend())];
  const { app, run } = await testApp(dir, { roles, storage: { path: "snaps" }, servers }, clock, undefined, { postgres, drivers });
  const byName = new Map<string, ServerRow>();
  for (const name of NAMES) byName.set(name, (await app.ledger.servers.get(name))!);
  return { app, run, clock, s: (name: (typeof NAMES)[number]) => byName.get(name)! };
}

const refusal = (a: CreateAnswer) => ("refused" in a ? errorMessage(a.refused) : null);

function batchCases(backend: string, database: () => Promise<string | undefined>): void {
  describe(`many scheduled runs recorded together (${backend} ledger)`, () => {
    it("createMany answers each run on its own: busy, host key changed and name taken refused with their reasons; a taken dated name gets the next", async () => {
      const { app, s } = await setup(await database());
      await app.ledger.snapshots.insert({ server_id: s("named").id, name: "nightly", created_by: "U2" });
      await app.ledger.snapshots.insert({ server_id: s("dated").id, name: DATED, created_by: "U2" });
      await app.ledger.hostKeys.block(s("blocked").id, []);
      const lease = await app.engine.lease("busy", "restore busy/old");
      const answers = await app.engine.batch((t) =>
        app.engine.createMany(
          [{ server: s("free"), ...ASKER }, { server: s("busy"), ...ASKER }, { server: s("blocked"), ...ASKER }, { server: s("named"), name: "nightly", ...ASKER }, { server: s("dated"), ...ASKER }],
          t,
        ),
      );
      app.engine.release(lease);
      expect(answers.map(refusal)).toEqual([
        null,
        expect.stringMatching(/^busy is busy: restore busy\/old has been running for .*; try again when it finishes$/),
        "blocked's SSH host key changed: an admin must run hostkeys accept blocked after checking it",
        "named/nightly already exists (pending): pick another name, or omit it for a dated one",
        null,
      ]);
      for (const a of answers) if (!("refused" in a)) await a.job.done;
      expect((await app.ledger.snapshots.findLive(s("free").id, DATED))?.state).toBe("done");
      expect((await app.ledger.snapshots.findLive(s("dated").id, `${DATED}-2`))?.state).toBe("done");
      // The refused ones wrote nothing: two creates in the audit log, both succeeded.
      const creates = (await app.ledger.operations.list({ limit: 20 })).filter((o) => o.kind === "create");
      expect(creates.map((o) => `${o.server} ${o.state}`).sort()).toEqual(["dated succeeded", "free succeeded"]);
      await app.close();
    });

    it("a batch that rolls back starts none of its runs, records none, and gives their leases back", async () => {
      const { app, s } = await setup(await database());
      let answers: CreateAnswer[] = [];
      const batch = app.engine.batch(async (t) => {
        answers = await app.engine.createMany([{ server: s("free"), ...ASKER }, { server: s("named"), name: "x", ...ASKER }], t);
        throw new Error("the runs could not be recorded");
      });
      await expect(batch).rejects.toThrow(/could not be recorded/);
      expect(answers.map(refusal)).toEqual([null, null]);
      for (const a of answers) if (!("refused" in a)) await expect(a.job.done).rejects.toThrow(/did not start: the transaction recording it was rolled back/);
      expect(await app.ledger.operations.list({ limit: 20 })).toEqual([]);
      expect(await app.ledger.snapshots.list(s("free").id, { all: true, limit: 10, offset: 0 })).toMatchObject({ total: 0 });
      app.engine.release(await app.engine.lease("free", "verify free/x")); // free again
      app.engine.release(await app.engine.lease("named", "verify named/x"));
      await app.close();
    });

    it("a tick over many servers: the busy and the blocked are skipped and recorded with their reasons, the others run", async () => {
      const { app, run, clock, s } = await setup(await database());
      for (const name of NAMES) expect((await run(`schedule ${name} "* * * * *"`)).tone).toBe("success");
      await app.ledger.hostKeys.block(s("blocked").id, []);
      const lease = await app.engine.lease("busy", "restore busy/old");
      clock.set(Date.UTC(2026, 0, 1, 0, 1));
      await app.scheduler.tick();
      app.engine.release(lease);
      await app.scheduler.settle();
      const last = new Map((await app.ledger.schedules.live()).map((r) => [r.server, r]));
      const ops = await app.ledger.operations.list({ limit: 50 });
      const opOf = (name: string) => ops.find((o) => o.id === last.get(name)!.last_operation_id)!;
      for (const name of ["free", "named", "dated"]) {
        expect(last.get(name), name).toMatchObject({ last_run_at: Date.UTC(2026, 0, 1, 0, 1), last_status: "succeeded" });
        expect(opOf(name)).toMatchObject({ kind: "create", server: name, state: "succeeded", requested_by: "scheduler" });
      }
      expect(last.get("busy")).toMatchObject({ last_status: "skipped", last_message: expect.stringMatching(/^skipped: busy is busy: restore busy\/old/) });
      expect(opOf("busy")).toMatchObject({ state: "cancelled", started_at: null, error: last.get("busy")!.last_message });
      expect(last.get("blocked")).toMatchObject({ last_status: "skipped", last_message: "skipped: blocked's SSH host key changed: an admin must run hostkeys accept blocked after checking it" });
      expect(opOf("blocked")).toMatchObject({ state: "cancelled", error: last.get("blocked")!.last_message });
      await app.close();
    });

    it("a backend with a limit: its minute is claimed with its create, once room is made, so a crash while making room leaves the minute free", async () => {
      const { app, run, clock } = await setup(await database());
      expect((await run('schedule vm "* * * * *"')).tone).toBe("success");
      let letGo!: () => void;
      const gate = new Promise<void>((r) => (letGo = r));
      const makeRoom = app.engine.makeRoom.bind(app.engine);
      vi.spyOn(app.engine, "makeRoom").mockImplementation(async (...a) => (await gate, makeRoom(...a)));
      const minute = Date.UTC(2026, 0, 1, 0, 1);
      clock.set(minute);
      expect(await app.scheduler.tick()).toMatchObject({ fired: 1 });
      // Making room: nothing of this minute is in the ledger yet (killed now, the next start runs it as missed).
      expect((await app.ledger.schedules.live()).find((r) => r.server === "vm")).toMatchObject({ last_run_at: null, last_status: null });
      expect((await app.ledger.operations.list({ limit: 20 })).filter((o) => o.kind === "create")).toEqual([]);
      letGo();
      await app.scheduler.settle();
      const row = (await app.ledger.schedules.live()).find((r) => r.server === "vm")!;
      expect(row).toMatchObject({ last_run_at: minute, last_status: "succeeded" });
      expect(await app.ledger.operations.get(row.last_operation_id!)).toMatchObject({ kind: "create", server: "vm", state: "succeeded", requested_by: "scheduler" });
      await app.close();
    });
  });
}

batchCases("SQLite", async () => undefined);
describePostgres("scheduled runs on PostgreSQL", () => batchCases("PostgreSQL", () => freshDatabase("batch")));
