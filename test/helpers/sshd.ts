import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { join } from "node:path";
import { track } from "./cleanup.ts";

// A real OpenSSH daemon on 127.0.0.1 for tests (DESIGN.md §5): its own config, host key, authorized_keys
// and pid file under `dir`; runs in the foreground as our child, recorded in the cleanup registry so it is
// killed even when the test run is interrupted or its worker dies.

export const SSHD = "/usr/sbin/sshd";

/** Whether sshd tests can run here. In CI a missing sshd is a failure, never a skip. */
export function sshdAvailable(): boolean {
  return existsSync(SSHD);
}

export interface Sshd {
  port: number;
  /** The listening daemon's pid (sessions are its children). */
  pid: number;
  /** The host key's public half (`ssh-ed25519 AAAA… comment`). */
  hostPublicKey: string;
  /** A client key pair whose public half is authorized for root. */
  clientKey: string;
  stop(): Promise<void>;
}

export function generateKey(file: string): void {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "snapbot-test", "-f", file]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** `config`: extra sshd_config lines (e.g. `SetEnv PATH=…` for a server without some program). */
export async function startSshd(dir: string, opts: { hostKey?: string; port?: number; config?: string[] } = {}): Promise<Sshd> {
  if (!sshdAvailable()) throw new Error(`${SSHD} is not installed (apt-get install -y openssh-server)`);
  mkdirSync("/run/sshd", { recursive: true });
  mkdirSync(dir, { recursive: true });
  const hostKey = opts.hostKey ?? join(dir, "ssh_host_ed25519_key");
  if (!existsSync(hostKey)) generateKey(hostKey);
  const clientKey = join(dir, "client_key");
  if (!existsSync(clientKey)) generateKey(clientKey);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  const port = opts.port ?? (await freePort());
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "StrictModes no",
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "MaxStartups 50",
      "LogLevel ERROR",
      ...(opts.config ?? []),
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const release = track({ kind: "pid", pid: child.pid! });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    release();
  };
  await waitForPort(port, child, () => log).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  return {
    port,
    pid: child.pid!,
    hostPublicKey: readFileSync(`${hostKey}.pub`, "utf8").trim(),
    clientKey,
    stop,
  };
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${log()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on ${port} within 10s: ${log()}`);
}
