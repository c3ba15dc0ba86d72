import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// A hung backend tool for the contract and walk-through tests: a real executable `tool` in `dir` that sleeps
// when its arguments match `when` (a shell case pattern) and runs the real tool otherwise. Put `dir` first on
// PATH (arm) for the runner's children to find it; `dir` in their command lines is the process-tree marker.

export function hangingTool(dir: string, tool: string, when = "*"): void {
  mkdirSync(dir, { recursive: true });
  const real = execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
  const script = ["#!/bin/sh", `case "$*" in ${when}) sleep 3600 ;; esac`, `exec ${real} "$@"`, ""].join("\n");
  writeFileSync(join(dir, tool), script);
  chmodSync(join(dir, tool), 0o755);
}

/** PATH switches: arm() puts `dir` first, disarm() puts PATH back. */
export function pathSwitch(dir: () => string): { arm(): void; disarm(): void } {
  let saved: string | undefined;
  return {
    arm: () => {
      saved = process.env.PATH;
      process.env.PATH = `${dir()}:${saved ?? ""}`;
    },
    disarm: () => void (process.env.PATH = saved),
  };
}
