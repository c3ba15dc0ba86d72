import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprints, recordedHostKeys, replaceHostKeys, trustOnFirstUse } from "../../src/transport/known-hosts.ts";
import { createLocalRunner } from "../../src/transport/local-runner.ts";
import type { Pipeline, Runner } from "../../src/transport/runner.ts";
import { createSshRunner } from "../../src/transport/ssh-runner.ts";
import { parseSshTarget, type SshTarget } from "../../src/transport/ssh-target.ts";
import { freePort, generateKey, sshdAvailable, startSshd, type Sshd } from "../helpers/sshd.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { backendRejection, collect } from "../helpers/outcomes.ts";

// Against a real sshd on 127.0.0.1 (DESIGN.md §5). In CI a missing sshd fails these tests; elsewhere they skip.
const enabled = sshdAvailable() || process.env.CI === "true";
const suite = enabled ? describe : describe.skip;

const log = pino({ level: "silent" });
const local = createLocalRunner(log);
const dir = tempDir("snapbot-ssh-");
let sshd: Sshd;
let target: SshTarget;
let knownHosts: string;
let remote: Runner;

const runnerWith = (over: { target?: SshTarget; keyFile?: string; knownHostsFile?: string; log?: pino.Logger }) =>
  createSshRunner({ target, keyFile: sshd.clientKey, knownHostsFile: knownHosts, connectTimeoutS: 5, log, ...over });

beforeAll(async () => {
  if (!enabled) return;
  sshd = await startSshd(join(dir, "sshd"));
  target = parseSshTarget(`ssh://root@127.0.0.1:${sshd.port}`);
  knownHosts = join(dir, "state", "known_hosts");
  remote = runnerWith({});
}, 20_000);
afterAll(async () => {
  await sshd?.stop();
});

suite("known_hosts (trust on first use)", () => {
  it("records the server's key at first contact, with its fingerprint", async () => {
    const r = await trustOnFirstUse(local, knownHosts, target);
    expect(r.added).toBe(true);
    const expected = execFileSync("ssh-keygen", ["-lf", join(dir, "sshd", "ssh_host_ed25519_key.pub")]).toString().split(" ")[1];
    expect(r.fingerprints).toEqual([{ type: "ED25519", bits: 256, fingerprint: expected }]);
    const lines = await recordedHostKeys(local, knownHosts, target);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
  });

  it("never overwrites a recorded key", async () => {
    const before = await readFile(knownHosts, "utf8");
    const r = await trustOnFirstUse(local, knownHosts, target);
    expect(r.added).toBe(false);
    expect(r.fingerprints).toHaveLength(1);
    expect(await readFile(knownHosts, "utf8")).toBe(before);
  });

  it("says a closed port has no host key to record", async () => {
    const closed = parseSshTarget(`ssh://root@127.0.0.1:${await freePort()}`);
    const e = await backendRejection(trustOnFirstUse(local, join(dir, "kh-closed"), closed));
    expect(e.code).toBe("ssh_unreachable");
    expect(existsSync(join(dir, "kh-closed"))).toBe(false);
  });
});

suite("ssh run", () => {
  it("logs a command as logAs gives it, never the substituted argv (a var may hold a password)", async () => {
    const lines: string[] = [];
    const r = runnerWith({ log: pino({ level: "debug" }, { write: (l: string) => void lines.push(l) }) });
    expect((await r.run("echo", ["s3cret-pw"], { logAs: ["echo", "{pw}"] })).stdout).toBe("s3cret-pw\n");
    const p = r.pipeline([{ cmd: "echo", args: ["s3cret-pw"] }], { logAs: ["echo", "{pw}"] });
    p.stdout.resume();
    await p.done;
    const logged = lines.join("");
    expect(logged).toContain('"remote":"echo {pw}"');
    expect(logged).toContain('"stages":[["echo","{pw}"]]');
    expect(logged).not.toContain("s3cret-pw");
  });

  it("delivers hostile arguments to the remote command verbatim, as data", async () => {
    const pwned = `/tmp/pwned-${process.pid}`;
    const hostile = ["a b", "it's", `$(touch ${pwned})`, `\`touch ${pwned}\``, ";rm -rf /", "line1\nline2", "", "$HOME", "*", `"q"`, "\\"];
    const r = await remote.run("printf", ["%s\\n", ...hostile]);
    expect(r.stdout).toBe(hostile.map((h) => `${h}\n`).join(""));
    expect(r.exitCode).toBe(0);
    expect(existsSync(pwned)).toBe(false);
  });

  it("runs in a remote directory with remote environment variables, both quoted", async () => {
    const odd = join(dir, "dir with 'quotes' and $(x)");
    await mkdir(odd);
    const r = await remote.run("sh", ["-c", 'pwd; printf "%s\\n" "$SNAP_VAR"'], { cwd: odd, env: { SNAP_VAR: "v $(id) 'x'" } });
    expect(r.stdout).toBe(`${odd}\nv $(id) 'x'\n`);
  });

  it("reports the remote command's own failure as command_failed with its stderr tail", async () => {
    const e = await backendRejection(remote.run("sh", ["-c", "echo first >&2; echo it broke >&2; exit 3"]));
    expect(e.code).toBe("command_failed");
    expect(e.message).toBe(`sh on ${target.url} failed (exit 3): first`);
    expect(e.stderrTail).toBe("first\nit broke");
  });

  it("tells a remote exit 255 apart from ssh's own failures", async () => {
    const e = await backendRejection(remote.run("sh", ["-c", "echo remote says no >&2; exit 255"]));
    expect(e.code).toBe("command_failed");
    expect(e.message).toContain("exit 255");
  });

  it("says when a program is missing on the server", async () => {
    const e = await backendRejection(remote.run("snapbot-no-such-program", ["x"]));
    expect(e.code).toBe("command_not_found");
    expect(e.message).toContain(`snapbot-no-such-program is not installed on ${target.url}`);
  });

  it("answers has() from the server", async () => {
    expect(await remote.has("sh")).toBe(true);
    expect(await remote.has("snapbot-no-such-program")).toBe(false);
    expect(await remote.has("it's $(x)")).toBe(false);
  });

  it("stops ssh at the timeout", async () => {
    const t = Date.now();
    const e = await backendRejection(remote.run("sleep", ["30"], { timeoutMs: 700 }));
    expect(e.code).toBe("command_timeout");
    expect(e.message).toContain("sleep on ssh://root@127.0.0.1");
    expect(Date.now() - t).toBeLessThan(5000);
  });

  it("stops ssh when the signal aborts", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const e = await backendRejection(remote.run("sleep", ["30"], { signal: ac.signal }));
    expect(e.code).toBe("command_aborted");
  });
});

suite("ssh failures", () => {
  it("refuses a server whose key is not recorded (empty known_hosts)", async () => {
    const empty = join(dir, "kh-empty");
    await writeFile(empty, "");
    const e = await backendRejection(runnerWith({ knownHostsFile: empty }).run("true", []));
    expect(e.code).toBe("ssh_hostkey_unknown");
    expect(e.message).toMatch(/no host key recorded.*admin must accept/);
  });

  it("refuses a server whose key differs from the recorded one", async () => {
    const other = join(dir, "other_host_key");
    generateKey(other);
    const wrong = join(dir, "kh-wrong");
    await writeFile(wrong, `${target.knownHostsName} ${(await readFile(`${other}.pub`, "utf8")).trim()}\n`);
    const e = await backendRejection(runnerWith({ knownHostsFile: wrong }).run("true", []));
    expect(e.code).toBe("ssh_hostkey_changed");
    const presented = (await fingerprints(local, [`x ${sshd.hostPublicKey}`]))[0]!.fingerprint;
    expect(e.message).toContain(`presented a different host key (${presented})`);
    expect(e.message).toContain("An admin must check the server and accept the new key");
    expect(e.stderrTail).toContain("has changed and you have requested strict checking");

    // An admin accepting the key (replace the entry) lets ssh through again.
    const fps = await replaceHostKeys(local, wrong, target);
    expect(fps).toEqual(await fingerprints(local, [`x ${sshd.hostPublicKey}`]));
    expect((await runnerWith({ knownHostsFile: wrong }).run("echo", ["ok"])).stdout).toBe("ok\n");
    expect(await recordedHostKeys(local, wrong, target)).toHaveLength(1);
    expect(existsSync(`${wrong}.old`)).toBe(false);
  });

  it("reports a client key the server does not accept", async () => {
    const stranger = join(dir, "stranger_key");
    generateKey(stranger);
    const e = await backendRejection(runnerWith({ keyFile: stranger }).run("true", []));
    expect(e.code).toBe("ssh_auth_failed");
    expect(e.message).toContain("refused snapbot's key (publickey)");
  });

  it("reports a closed port as unreachable", async () => {
    const closed = parseSshTarget(`ssh://root@127.0.0.1:${await freePort()}`);
    const e = await backendRejection(runnerWith({ target: closed }).run("true", []));
    expect(e.code).toBe("ssh_unreachable");
    expect(e.message).toContain("Connection refused");
    const p = runnerWith({ target: closed }).pipeline([{ cmd: "true", args: [] }]);
    const pe = await backendRejection(Promise.all([collect(p), p.done]));
    expect(pe.code).toBe("ssh_unreachable");
  });
});

suite("ssh pipeline", () => {
  it("runs tar | gzip on the server; the archive extracts locally to the same files", async () => {
    const src = join(dir, "tree with space");
    await mkdir(join(src, "sub $(x)"), { recursive: true });
    const files: Record<string, Buffer> = {
      "plain.txt": Buffer.from("hello\n"),
      "it's.bin": randomBytes(300_000),
      "sub $(x)/`nested`": Buffer.from("deep\n"),
    };
    for (const [name, data] of Object.entries(files)) await writeFile(join(src, name), data);

    const p = remote.pipeline([
      { cmd: "tar", args: ["-cf", "-", "-C", src, "."] },
      { cmd: "gzip", args: ["-1"] },
    ]);
    const [gz] = await Promise.all([collect(p), p.done]);
    expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));

    const out = join(dir, "extracted");
    await mkdir(out);
    await writeFile(join(dir, "a.tar.gz"), gz);
    execFileSync("tar", ["-xzf", join(dir, "a.tar.gz"), "-C", out]);
    for (const [name, data] of Object.entries(files)) expect(await readFile(join(out, name))).toEqual(data);
    expect((await readdir(out)).sort()).toEqual(["it's.bin", "plain.txt", "sub $(x)"]);
  });

  it("writes the remote pipeline's output into stdoutFd when given, and hands Node an empty stdout", async () => {
    const data = randomBytes(700_000);
    const src = join(dir, "fd-src.bin");
    const dst = join(dir, "fd-dst.bin");
    await writeFile(src, data);
    const fd = openSync(dst, "w", 0o600);
    const p = remote.pipeline([{ cmd: "cat", args: [src] }, { cmd: "gzip", args: ["-1"] }], { stdoutFd: fd });
    closeSync(fd);
    const [out] = await Promise.all([collect(p), p.done]);
    expect(out.length).toBe(0);
    expect(execFileSync("gzip", ["-d", "-c", dst]).equals(data)).toBe(true);
  });

  it("streams input into the remote first stage", async () => {
    const data = randomBytes(2 * 1024 * 1024 + 17);
    const p = remote.pipeline([{ cmd: "sha256sum", args: [] }, { cmd: "cut", args: ["-d", " ", "-f", "1"] }], { input: Readable.from([data]) });
    const [out] = await Promise.all([collect(p), p.done]);
    expect(out.toString().trim()).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("names the failing stage, not its SIGPIPE victim, and keeps exit reports out of stderr", async () => {
    const p = remote.pipeline([
      { cmd: "yes", args: [] },
      { cmd: "sh", args: ["-c", "head -c 10 >/dev/null; echo stage two broke >&2; exit 4"] },
    ]);
    const [, e] = await Promise.all([collect(p), backendRejection(p.done)]);
    expect(e.code).toBe("command_failed");
    expect(e.message).toBe(`sh on ${target.url} failed (exit 4): stage two broke`);
    expect(e.stderrTail).toBe("stage two broke");
  });

  it("fails when a middle stage fails even though the last succeeds (no pipefail needed)", async () => {
    const p = remote.pipeline([
      { cmd: "echo", args: ["x"] },
      { cmd: "sh", args: ["-c", "cat; exit 7"] },
      { cmd: "cat", args: [] },
    ]);
    const [out, e] = await Promise.all([collect(p), backendRejection(p.done)]);
    expect(out.toString()).toBe("x\n");
    expect(e.message).toContain("exit 7");
  });

  it("says which stage is not installed", async () => {
    const p = remote.pipeline([{ cmd: "echo", args: ["x"] }, { cmd: "snapbot-no-such-zstd", args: ["-1"] }]);
    const [, e] = await Promise.all([collect(p), backendRejection(p.done)]);
    expect(e.code).toBe("command_not_found");
    expect(e.message).toContain("snapbot-no-such-zstd is not installed on");
  });

  it("stops at its timeout and on kill()", async () => {
    const t = Date.now();
    const p = remote.pipeline([{ cmd: "sleep", args: ["30"] }, { cmd: "cat", args: [] }], { timeoutMs: 500 });
    const [, e] = await Promise.all([collect(p).catch(() => Buffer.alloc(0)), backendRejection(p.done)]);
    expect(e.code).toBe("command_timeout");
    expect(e.message).toContain("sleep | cat on");
    expect(Date.now() - t).toBeLessThan(5000);

    const q = remote.pipeline([{ cmd: "sleep", args: ["30"] }]);
    setTimeout(() => q.kill(), 300);
    const qe = await backendRejection(q.done);
    expect(qe.code).toBe("command_aborted");
  });
});
