import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { fakeBackend, fakeDriverModule } from "../../helpers/fake-driver.ts";
import { testApp } from "../../helpers/test-app.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { alive, processTree, waitFor } from "../../helpers/process-tree.ts";
import type { Reply } from "../../../src/reply.ts";

// A server's `timeout:` bounds every operation on it, not only the ones whose caller passed it: here an
// approved restore, which runs later through the approvals path, is stopped at the server's 2 s while the
// engine's own timeout is hours.

const dir = tempDir("snapbot-server-timeout-");
const done = (r: Reply) => r.follow!.done;
const approvalOf = (r: Reply) => Number(/approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? NaN);

describe("a server's timeout", () => {
  it("stops an approved restore at the server's timeout, with its child processes, not at engine.timeout", async () => {
    const backend = fakeBackend();
    backend.data.set("vm", "A");
    const file = {
      roles: { admins: ["U0ADMIN"], approvers: ["U0ALICE"], operators: ["*"] },
      engine: { timeout: "6H" },
      storage: { path: "snaps" },
      servers: { vm: { driver: "fake", timeout: 2 } },
    };
    const { app, run } = await testApp(join(dir, "restore"), file, undefined, undefined, { drivers: [fakeDriverModule(backend)] });
    try {
      expect((await done(await run("create vm s1", "U0OP"))).tone).toBe("success");
      backend.data.set("vm", "B");
      backend.hangRestore = "snapbot-hung-restore-marker";
      const request = await run("restore vm/s1", "U0OP");
      const started = Date.now();
      const reply = await run(`approve ${approvalOf(request)}`, "U0ALICE");
      const hung = await waitFor("the hung restore's processes", () => {
        const found = processTree("snapbot-hung-restore-marker", { mine: true }).map((p) => p.pid);
        return found.length ? found : undefined;
      });
      const final = await done(reply);
      expect(final).toMatchObject({ tone: "error", lines: [expect.stringMatching(/^timed out after 2s: the operation was stopped/)] });
      expect(Date.now() - started).toBeLessThan(60_000); // stopped by the 2 s, not the 6 h (a bound, not a timing)
      await waitFor("the hung processes gone", () => (hung.some(alive) ? undefined : true));
      expect(backend.data.get("vm")).toBe("B"); // nothing was restored
      const op = (await app.ledger.operations.list({ limit: 10 })).find((o) => o.kind === "restore");
      expect(op).toMatchObject({ state: "failed" });
    } finally {
      await app.close();
    }
  });
});
