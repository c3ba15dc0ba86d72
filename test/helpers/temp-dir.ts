import { afterAll } from "vitest";
import { trackedTempDir } from "./cleanup.ts";

/** A fresh folder under the system temp dir, removed when the test file ends (or the run is interrupted). */
export function tempDir(prefix = "snapbot-"): string {
  const { dir, remove } = trackedTempDir(prefix);
  afterAll(remove);
  return dir;
}
