import { describe, expect, it } from "vitest";
import pino from "pino";
import { createLocalRunner } from "../../../src/transport/local-runner.ts";
import { runStep } from "../../../src/drivers/command/run-step.ts";

// A step's vars may hold a password (`--password={pw}`): the runner's debug log shows the step as configured.

describe("a command step in the debug log", () => {
  it("is shown as configured, with its vars unexpanded, while the substituted argv runs", async () => {
    const lines: string[] = [];
    const runner = createLocalRunner(pino({ level: "debug" }, { write: (l: string) => void lines.push(l) }));
    const done = await runStep({ phase: "create", index: 0, template: ["echo", "--password={pw}"], argv: ["echo", "--password=s3cret-pw"] }, { runner, signal: new AbortController().signal });
    expect(done.stdout).toBe("--password=s3cret-pw\n");
    expect(lines.join("")).toContain('"stages":[["echo","--password={pw}"]]');
    expect(lines.join("")).not.toContain("s3cret-pw");
  });
});
