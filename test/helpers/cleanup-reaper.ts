import { existsSync, readFileSync, rmSync } from "node:fs";
import { alive, teardown, type Resource } from "./cleanup.ts";

// Started detached by cleanup.ts, one per test process: waits for that process to end, then tears down what
// its journal still lists. A process that exits normally or on a signal has already emptied its journal
// (removed it); one that died without running any handler (SIGKILL, a crashed worker) has not.
// argv: <pid to watch> <journal file>.

const [pid, journal] = [Number(process.argv[2]), process.argv[3]!];

const timer = setInterval(() => {
  if (alive(pid)) return;
  clearInterval(timer);
  if (!existsSync(journal)) return;
  try {
    teardown(JSON.parse(readFileSync(journal, "utf8")) as Resource[]);
  } finally {
    rmSync(journal, { force: true });
  }
}, 200);
