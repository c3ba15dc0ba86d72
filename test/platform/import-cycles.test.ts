import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, resolve } from "node:path";

// DESIGN.md §1a: EngineDeps, SchedulerDeps, the driver contract and the setting rules each live in a file of
// their own so that no module imports (even for types) one that imports it back. Tarjan's algorithm over the
// relative imports of src/, db/ and commands/; any strongly connected component of more than one file is a cycle.

const REPO = resolve(import.meta.dirname, "../..");

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function importGraph(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  return new Map(
    files.map((f) => {
      const specs = [...readFileSync(f, "utf8").matchAll(/from "(\.[^"]+)"/g)].map((m) => normalize(join(dirname(f), m[1]!)));
      return [f, specs.filter((s) => known.has(s))];
    }),
  );
}

function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next), low.set(v, next), next++, stack.push(v), on.add(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!));
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do (w = stack.pop()!), on.delete(w), component.push(relative(REPO, w));
    while (w !== v);
    if (component.length > 1) found.push(component.sort());
  };
  for (const f of graph.keys()) if (!index.has(f)) visit(f);
  return found;
}

describe("imports", () => {
  it("form no cycles in src/, db/ and commands/ (type imports included)", () => {
    const files = ["src", "db", "commands"].flatMap((d) => tsFiles(join(REPO, d)));
    expect(files.length).toBeGreaterThan(100);
    expect(cycles(importGraph(files))).toEqual([]);
  });

  it("the check finds a cycle when there is one", () => {
    const g = new Map([["/a.ts", ["/b.ts"]], ["/b.ts", ["/c.ts"]], ["/c.ts", ["/a.ts"]], ["/d.ts", ["/a.ts"]]]);
    expect(cycles(g).map((c) => c.length)).toEqual([3]);
  });
});
