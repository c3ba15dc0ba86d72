import { BackendError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";

// Every virsh call of the libvirt mode: `virsh -c <connect> <subcommand> …` as an argv array through the
// server's Runner (local, or on the hypervisor host over SSH), with the operation's AbortSignal (a hung
// virsh dies at the timeout, its process group with it) and failures in libvirt's own words.

export type VirshErrorCode = "domain_missing" | "snapshot_missing" | "already_exists" | "libvirt_unreachable" | "command_failed";

export interface VirshCall {
  what: string; // "snapshot s1 of domain web": what was asked, for the error message
  signal: AbortSignal;
}

export interface VirshClient {
  readonly connect: string;
  /** Runs `virsh -c <connect> <args>`; resolves with stdout. */
  run(args: string[], call: VirshCall): Promise<string>;
}

// virsh's messages are translated: in English they can be recognised (also over SSH, where the locale is the host's).
const ENV = { LC_ALL: "C" };
const MAX_MESSAGE = 600;

export function createVirshClient(connect: string, runner: Runner): VirshClient {
  return {
    connect,
    async run(args, call) {
      try {
        return (await runner.run("virsh", ["-c", connect, ...args], { signal: call.signal, env: ENV })).stdout;
      } catch (e) {
        throw virshError(call.what, e, connect);
      }
    },
  };
}

// Most specific first. "failed to get domain 'x'" is how 9.0 says the domain does not exist.
const RULES: Array<[VirshErrorCode, RegExp]> = [
  [
    "libvirt_unreachable",
    /failed to connect to the hypervisor|no connection driver available|Cannot recv data|End of file while reading data/i,
  ],
  ["snapshot_missing", /Domain snapshot not found|no domain snapshot with matching name/i],
  ["domain_missing", /failed to get domain|Domain not found|no domain with matching name/i],
  ["already_exists", /already exists/i],
];

/** libvirt's message: every `error: …` line virsh printed, joined ("failed to connect to the hypervisor: Failed to…"). */
export function virshMessage(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const errors = lines.filter((l) => l.startsWith("error:")).map((l) => l.slice("error:".length).trim());
  const text = errors.length > 0 ? errors.join(": ") : (lines.at(-1) ?? "");
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}

export function classifyVirsh(message: string): VirshErrorCode {
  return RULES.find(([, re]) => re.test(message))?.[0] ?? "command_failed";
}

/** `<what> failed: <libvirt's message>`, with a code the backend can act on (a missing domain, an existing name…). */
export function virshError(what: string, err: unknown, connect: string): Error {
  if (!(err instanceof BackendError)) return err instanceof Error ? err : new Error(String(err));
  // Timeouts, cancels and a missing virsh already say the right thing ("virsh was cancelled and stopped").
  if (err.code !== "command_failed")
    return new BackendError(err.code, `${what}: ${err.message}`, { cause: err, stderrTail: err.stderrTail });
  const said = virshMessage(err.stderrTail) || err.message;
  const code = classifyVirsh(said);
  const where =
    code === "libvirt_unreachable" ? ` (libvirt at ${connect} cannot be reached: is libvirtd running, and is connect: right?)` : "";
  return new BackendError(code, `${what} failed${where}: virsh: ${said}`, { cause: err, stderrTail: err.stderrTail });
}
