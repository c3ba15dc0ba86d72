import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ContractServer, DriverCase, Fresh } from "./driver-contract.ts";
import type { Reply } from "../../src/reply.ts";
import { waitFor } from "../helpers/process-tree.ts";

// Hooks in the driver contract (issue 13 item 3): every driver gets them from the engine, so the same two cases
// run against each. The hook is a real script in the contract's folder (an ssh:// server is this machine, so
// it is there too); it appends "<phase> <server>/<name>" to a log the test reads.

const done = (r: Reply) => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};

export function hooksCases(c: DriverCase, fresh: Fresh, root: () => string): void {
  describe("hooks", () => {
    const log = () => join(root(), "hooks.log");
    const script = (name: string, exit: number) => {
      const path = join(root(), name);
      writeFileSync(path, `#!/bin/sh\necho "$1 $2" >> "${log()}"\necho "hook $1 says no" >&2\nexit ${exit}\n`);
      chmodSync(path, 0o755);
      return path;
    };
    const hooked = (pre: string, post: string): ContractServer => {
      const s = c.server();
      return { name: s.name, config: { ...s.config, hooks: { pre: [[pre, "pre", "{server}/{name}"]], post: [[post, "post", "{server}/{name}"]] } } };
    };
    const logged = () => (existsSync(log()) ? readFileSync(log(), "utf8").trim().split("\n") : []);

    it("pre-hooks run before the create, post-hooks after it, through the driver's runner", async () => {
      writeFileSync(log(), "");
      const server = hooked(script("ok.sh", 0), script("ok.sh", 0));
      const t = await fresh(server);
      try {
        const final = await done(await t.run(`create ${server.name} hooked-1`, "U0OP"));
        expect(final.tone).toBe("success");
        expect(final.lines).toContainEqual(expect.stringMatching(/^hooks: pre "ok\.sh pre .*" ok in \d+m?s; post "ok\.sh post .*" ok in \d+m?s$/));
        expect(logged()).toEqual([`pre ${server.name}/hooked-1`, `post ${server.name}/hooked-1`]);
        expect((await t.rows(server.name, "hooked-1")).map((r) => r.state)).toEqual(["done"]);
        await done(await t.run(`delete ${server.name}/hooked-1`, "U0OP"));
      } finally {
        await t.app.close();
      }
    });

    it("a failing pre-hook: the backend takes nothing, hook_failed is raised, post-hooks still run", async () => {
      writeFileSync(log(), "");
      const server = hooked(script("no.sh", 4), script("ok.sh", 0));
      const t = await fresh(server);
      try {
        const final = await done(await t.run(`create ${server.name} hooked-2`, "U0OP"));
        expect(final).toMatchObject({ tone: "error", lines: [expect.stringMatching(/^pre-hook "no\.sh pre .*" failed, so .* was not taken: .*exit 4/), expect.anything()] });
        expect(logged()).toEqual([`pre ${server.name}/hooked-2`, `post ${server.name}/hooked-2`]);
        // list syncs drivers that keep snapshots on their backend: one made there would appear as imported.
        await t.run(`list ${server.name} --all`);
        expect((await t.rows(server.name, "hooked-2")).map((r) => r.state)).toEqual(["failed"]);
        const alert = await waitFor("the hook_failed alert", () => t.chat.calls.find((x) => x.channel === "C0ALERTS"));
        expect(alert.reply.title).toMatch(/^hook_failed: pre-hook "no\.sh pre .*" failed: snapshot .* not taken/);
      } finally {
        await t.app.close();
      }
    });
  });
}
