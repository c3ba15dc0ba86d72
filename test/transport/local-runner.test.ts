import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { closeSync, openSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pino from "pino";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import type { Pipeline } from "../../src/transport/runner.ts";
import { backendRejection, collect } from "../helpers/outcomes.ts";
import { trackedTempDir } from "../helpers/cleanup.ts";

const runner = createLocalRunner(pino({ level: "silent" }));
let dir: string;

let removeDir = () => {};
beforeAll(() => {
  ({ dir, remove: removeDir } = trackedTempDir("snapbot-runner-"));
});
afterAll(() => removeDir());

describe("run", () => {
  it("returns stdout, stderr and the exit code", async () => {
    const r = await runner.run("sh", ["-c", "echo out; echo err >&2"]);
    expect(r).toEqual({ stdout: "out\n", stderr: "err\n", exitCode: 0 });
  });

  it("passes arguments as data, never through a shell", async () => {
    const hostile = "$(touch pwned); rm -rf / `id` a;b | c > d";
    const r = await runner.run("printf", ["%s", hostile], { cwd: dir });
    expect(r.stdout).toBe(hostile);
    await expect(readFile(join(dir, "pwned"))).rejects.toThrow();
  });

  it("rejects a non-zero exit naming the command and the code, with the last 10 stderr lines", async () => {
    const e = await backendRejection(runner.run("sh", ["-c", "for i in $(seq 1 20); do echo line$i >&2; done; exit 3"]));
    expect(e.code).toBe("command_failed");
    expect(e.message).toMatch(/^sh failed \(exit 3\): line11$/);
    expect(e.stderrTail.split("\n")).toEqual(Array.from({ length: 10 }, (_, i) => `line${i + 11}`));
  });

  it("says when a program is not installed", async () => {
    const e = await backendRejection(runner.run("snapbot-no-such-program", []));
    expect(e.code).toBe("command_not_found");
    expect(e.message).toContain("snapbot-no-such-program is not installed");
  });

  it("stops a command at its timeout", async () => {
    const t = Date.now();
    const e = await backendRejection(runner.run("sleep", ["10"], { timeoutMs: 200 }));
    expect(e.code).toBe("command_timeout");
    expect(e.message).toContain("sleep timed out");
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it("stops a command when its signal aborts", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const e = await backendRejection(runner.run("sleep", ["10"], { signal: ac.signal }));
    expect(e.code).toBe("command_aborted");
  });
});

describe("pipeline", () => {
  it("moves bytes through every stage and hands the last stdout to Node", async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const file = join(dir, "data.bin");
    await writeFile(file, data);
    const p = runner.pipeline([
      { cmd: "cat", args: [file] },
      { cmd: "zstd", args: ["-1", "-q", "-c"] },
      { cmd: "zstd", args: ["-d", "-q", "-c"] },
    ]);
    const [out] = await Promise.all([collect(p), p.done]);
    expect(out.equals(data)).toBe(true);
  });

  it("writes the last stage's stdout into stdoutFd when given, and hands Node an empty stdout", async () => {
    const data = randomBytes(512 * 1024);
    const src = join(dir, "fd-src.bin");
    const dst = join(dir, "fd-dst.bin");
    await writeFile(src, data);
    const fd = openSync(dst, "w", 0o600);
    const p = runner.pipeline([{ cmd: "cat", args: [src] }, { cmd: "zstd", args: ["-1", "-q", "-c"] }], { stdoutFd: fd });
    closeSync(fd); // the stage holds its own copy
    const [out] = await Promise.all([collect(p), p.done]);
    expect(out.length).toBe(0);
    expect(execFileSync("zstd", ["-d", "-q", "-c", dst]).equals(data)).toBe(true);
  });

  // libuv makes "pipes" as Unix socketpairs: the reader's stdin must be the peer of the writer's stdout
  // (as `ss -x` reports it), not a second socket that Node copies into.
  it("connects stages kernel to kernel: stage 2 reads the very socket stage 1 writes", async () => {
    const p = runner.pipeline([
      { cmd: "sh", args: ["-c", "readlink /proc/$$/fd/1; sleep 1"] },
      { cmd: "sh", args: ["-c", "readlink /proc/$$/fd/0; exec cat"] },
    ]);
    const lines = await new Promise<string[]>((resolve) => {
      let text = "";
      p.stdout.on("data", (c: Buffer) => {
        text += c.toString();
        const got = text.trim().split("\n");
        if (got.length === 2) resolve(got);
      });
    });
    const [reader, writer] = lines.map((l) => /^socket:\[(\d+)\]$/.exec(l)?.[1]);
    expect(reader && writer).toBeTruthy();
    const { stdout } = await runner.run("ss", ["-xn"]);
    const peers = stdout.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f[5] === reader);
    expect(peers.map((f) => f[7])).toEqual([writer]);
    await p.done;
  });

  it("names the failing stage with its exit code and stderr", async () => {
    const p = runner.pipeline([
      { cmd: "tar", args: ["-cf", "-", "-C", "/", "--", join(dir, "nope").slice(1)] },
      { cmd: "zstd", args: ["-q", "-c"] },
    ]);
    const [, e] = await Promise.all([collect(p), backendRejection(p.done)]);
    expect(e.code).toBe("command_failed");
    expect(e.message).toMatch(/^tar failed \(exit 2\): tar: .*nope: Cannot stat: No such file or directory$/);
    expect(e.stderrTail).toContain("Cannot stat");
  });

  it("blames the stage that failed, not the one it broke (SIGPIPE)", async () => {
    const p = runner.pipeline([
      { cmd: "cat", args: ["/dev/zero"] },
      { cmd: "sh", args: ["-c", "head -c 1000 >/dev/null; echo boom >&2; exit 4"] },
    ]);
    const [, e] = await Promise.all([collect(p), backendRejection(p.done)]);
    expect(e.message).toBe("sh failed (exit 4): boom");
  });

  it("says which stage is not installed", async () => {
    const p = runner.pipeline([
      { cmd: "cat", args: ["/dev/zero"] },
      { cmd: "snapbot-no-such-zstd", args: [] },
    ]);
    const [, e] = await Promise.all([collect(p), backendRejection(p.done)]);
    expect(e.code).toBe("command_not_found");
    expect(e.message).toContain("snapbot-no-such-zstd");
  });

  it("stops every stage at its timeout", async () => {
    const p = runner.pipeline([{ cmd: "cat", args: ["/dev/zero"] }, { cmd: "cat", args: [] }], { timeoutMs: 200 });
    p.stdout.resume();
    const e = await backendRejection(p.done);
    expect(e.code).toBe("command_timeout");
    expect(e.message).toBe("cat | cat timed out after 0.2s and was stopped");
  });

  it("stops every stage when its signal aborts", async () => {
    const ac = new AbortController();
    const p = runner.pipeline([{ cmd: "cat", args: ["/dev/zero"] }, { cmd: "cat", args: [] }], { signal: ac.signal });
    p.stdout.resume();
    setTimeout(() => ac.abort(), 100);
    expect((await backendRejection(p.done)).code).toBe("command_aborted");
  });

  it("kill() stops the stages and done rejects", async () => {
    const p = runner.pipeline([{ cmd: "sleep", args: ["10"] }, { cmd: "cat", args: [] }]);
    p.stdout.resume();
    setTimeout(() => p.kill(), 50);
    expect((await backendRejection(p.done)).code).toBe("command_aborted");
  });

  it("SIGKILLs a stage that ignores SIGTERM after the grace period", async () => {
    const p = runner.pipeline([{ cmd: "sh", args: ["-c", "trap '' TERM; while :; do sleep 0.1; done"] }]);
    p.stdout.resume();
    const t = Date.now();
    setTimeout(() => p.kill(), 50);
    expect((await backendRejection(p.done)).code).toBe("command_aborted");
    expect(Date.now() - t).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - t).toBeLessThan(4000);
  });
});

// Children run in their own process group (Ctrl-C at a terminal reaches snapbot, not tar/zstd/ssh), and
// a stop reaches everything the child started, not only the child.
describe("process groups", () => {
  const groupOf = "echo $$; cut -d' ' -f5 /proc/$$/stat"; // the shell's pid, then its process group
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const gone = async (pid: number) => {
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    return !alive(pid);
  };
  const orphanScript = (file: string) => `sleep 30 >/dev/null 2>&1 & echo $! > ${file}; wait`;

  it("run: a command leads its own process group", async () => {
    const [pid, pgid] = (await runner.run("sh", ["-c", groupOf])).stdout.trim().split("\n");
    expect(pgid).toBe(pid);
    expect(pgid).not.toBe(readFileSyncStat(process.pid));
  });

  it("pipeline: each stage leads its own process group", async () => {
    const p = runner.pipeline([{ cmd: "sh", args: ["-c", groupOf] }]);
    const out = await collect(p);
    const [pid, pgid] = out.toString().trim().split("\n");
    expect(pgid).toBe(pid);
  });

  it("run: an abort stops what the command started too", async () => {
    const file = join(dir, "run-orphan.pid");
    const ac = new AbortController();
    const running = runner.run("sh", ["-c", orphanScript(file)], { signal: ac.signal });
    const pid = await pidFrom(file);
    ac.abort();
    expect((await backendRejection(running)).code).toBe("command_aborted");
    expect(await gone(pid)).toBe(true);
  });

  it("pipeline: an abort stops what a stage started too", async () => {
    const file = join(dir, "pipe-orphan.pid");
    const ac = new AbortController();
    const p = runner.pipeline([{ cmd: "sh", args: ["-c", orphanScript(file)] }], { signal: ac.signal });
    p.stdout.resume();
    const pid = await pidFrom(file);
    ac.abort();
    expect((await backendRejection(p.done)).code).toBe("command_aborted");
    expect(await gone(pid)).toBe(true);
  });
});

function readFileSyncStat(pid: number): string {
  return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[2]!;
}

async function pidFrom(file: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const text = await readFile(file, "utf8").catch(() => "");
    if (text.trim()) return Number(text.trim());
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${file} never got a pid`);
}

describe("has", () => {
  it("finds programs on PATH and remembers the answer", async () => {
    expect(await runner.has("tar")).toBe(true);
    expect(await runner.has("snapbot-no-such-program")).toBe(false);
    expect(await runner.has("/bin/sh")).toBe(true);
    expect(runner.has("tar")).toBe(runner.has("tar"));
  });
});

describe("what the debug log shows", () => {
  it("a command as logAs gives it (a step as configured), never its substituted argv, which may hold a password", async () => {
    const lines: string[] = [];
    const r = createLocalRunner(pino({ level: "debug" }, { write: (l: string) => void lines.push(l) }));
    await r.run("echo", ["--password=s3cret-pw"], { logAs: ["echo", "--password={pw}"] });
    const p = r.pipeline([{ cmd: "echo", args: ["s3cret-pw"] }, { cmd: "cat", args: [] }], { logAs: ["echo", "{pw}"] });
    expect((await collect(p)).toString()).toBe("s3cret-pw\n"); // what runs is the real argv
    await p.done;
    const logged = lines.join("");
    expect(logged).toContain('"argv":["echo","--password={pw}"]');
    expect(logged).toContain('"stages":[["echo","{pw}"],["cat"]]');
    expect(logged).not.toContain("s3cret-pw");
    lines.length = 0;
    await r.run("echo", ["plain"]); // without logAs: the argv, as before
    expect(lines.join("")).toContain('"argv":["echo","plain"]');
  });
});
