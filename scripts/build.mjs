// npm run build: the TypeScript compiled to plain JavaScript in dist/, with the SQL
// migrations beside the code that applies them. `npm start` runs the result, so production pays neither
// the tsx loader's start-up nor its ~30 MiB of memory. `tsc -b` skips an up-to-date build (under 1 s).
import { execFileSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { createRequire } from "node:module";

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
try {
  execFileSync(process.execPath, [tsc, "-b", "tsconfig.build.json"], { stdio: "inherit" });
} catch {
  console.error("build failed: fix the TypeScript errors above (npm run typecheck shows them too)");
  process.exit(1);
}
// Replaced, not merged: a migration renamed or removed in the source must not linger in dist.
rmSync("dist/db/migrations", { recursive: true, force: true });
cpSync("db/migrations", "dist/db/migrations", { recursive: true });
