import { mkdirSync, existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileSchema, type FileConfig } from "./schema.ts";

// With no snapbot.yml, one local archive server over a small folder, so `/snapshot create demo` works
// on a fresh machine. Everyone may do everything in the demo (there is nobody else to ask).
export function demoConfig(cwd: string): FileConfig {
  return fileSchema.parse({
    roles: { admins: ["*"], approvers: ["*"], operators: ["*"] },
    storage: { path: resolve(cwd, "data/snapshots") },
    servers: { demo: { driver: "archive", mode: "tar", paths: [demoFolder(cwd)], part_size: "1MiB" } },
  });
}

export function demoFolder(cwd: string): string {
  return resolve(cwd, "data/demo");
}

/** Creates the demo folder on first run: a few files worth snapshotting. */
export function ensureDemoFolder(cwd: string): void {
  const dir = demoFolder(cwd);
  if (existsSync(dir)) return;
  mkdirSync(join(dir, "etc"), { recursive: true });
  mkdirSync(join(dir, "srv/www"), { recursive: true });
  writeFileSync(join(dir, "etc/app.conf"), "# demo application config\nlisten = 127.0.0.1:8080\nworkers = 4\n");
  writeFileSync(join(dir, "srv/www/index.html"), "<h1>snapbot demo</h1>\n");
  const lines = Array.from({ length: 20000 }, (_, i) => `${new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString()} GET /item/${i} 200\n`);
  writeFileSync(join(dir, "srv/access.log"), lines.join(""));
}
