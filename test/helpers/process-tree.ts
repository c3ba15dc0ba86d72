import { execFileSync } from "node:child_process";

// What a hung backend left running, seen with `ps`: every process whose command line carries a marker (a
// path only that backend's processes name), and everything below them.

interface Proc {
  pid: number;
  ppid: number;
  args: string;
}

function table(): Proc[] {
  return execFileSync("ps", ["-eo", "pid=,ppid=,args="], { encoding: "utf8" })
    .split("\n")
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
}

/** The processes naming `marker` and their descendants (pid and command line); `mine`: only those started from this one. */
export function processTree(marker: string, opts: { mine?: boolean } = {}): Proc[] {
  const all = table().filter((p) => p.pid !== process.pid);
  const found = below(all, all.filter((p) => p.args.includes(marker)));
  if (!opts.mine) return found;
  const ours = new Set(below(all, all.filter((p) => p.ppid === process.pid)).map((p) => p.pid));
  return found.filter((p) => ours.has(p.pid));
}

function below(all: Proc[], roots: Proc[]): Proc[] {
  const found = new Map(roots.map((p) => [p.pid, p]));
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all)
      if (!found.has(p.pid) && found.has(p.ppid)) {
        found.set(p.pid, p);
        grew = true;
      }
  }
  return [...found.values()];
}

/** Whether a process still exists (a zombie counts as gone: it runs nothing). */
export function alive(pid: number): boolean {
  try {
    const stat = execFileSync("ps", ["-o", "stat=", "-p", String(pid)], { encoding: "utf8" }).trim();
    return stat !== "" && !stat.startsWith("Z");
  } catch {
    return false; // ps exits 1 when there is no such process
  }
}

/** Polls `check` every 50 ms until it returns a value that is not undefined, or throws after `ms`. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
