import type { Runner } from "../../transport/runner.ts";
import { BackendError } from "../../errors.ts";
import { lxcError, type LxcErrorCode } from "./lxc-errors.ts";
import type { LxdServer } from "./lxd-settings.ts";

// Every lxc call of the driver: through the Runner (argv only), with the LXD_CONF/LXD_DIR of the server's
// settings, the operation's AbortSignal (a hung lxc dies at the timeout), and errors in LXD's own words.

export interface LxcCall {
  what: string; // "snapshot web-1/s1": what the user asked, for the error message
  signal?: AbortSignal;
}

export interface LxcClient {
  /** Runs `lxc <args>`; resolves with stdout. */
  run(args: string[], call: LxcCall): Promise<string>;
  /** `lxc query <path>` parsed as JSON (LXD's API; never a table). */
  query<T = unknown>(path: string, call: LxcCall): Promise<T>;
  /**
   * As query, but `undefined` when LXD answers that the thing asked for is absent (`absent`: the code for
   * it). Only that code: a missing instance while asking for one of its snapshots stays an error.
   */
  find<T = unknown>(path: string, call: LxcCall, absent: LxcErrorCode): Promise<T | undefined>;
}

// `check` has no operation context: it still must not wait forever on a dead remote.
const DEFAULT_TIMEOUT_MS = 120_000;

export function createLxcClient(settings: Pick<LxdServer, "lxd_conf" | "lxd_dir">, runner: Runner): LxcClient {
  const env: Record<string, string> = {};
  if (settings.lxd_conf) env.LXD_CONF = settings.lxd_conf;
  if (settings.lxd_dir) env.LXD_DIR = settings.lxd_dir;

  async function run(args: string[], call: LxcCall): Promise<string> {
    try {
      const opts = { signal: call.signal, env, timeoutMs: call.signal ? undefined : DEFAULT_TIMEOUT_MS };
      return (await runner.run("lxc", args, opts)).stdout;
    } catch (e) {
      throw lxcError(call.what, e, settings.lxd_conf);
    }
  }

  async function query<T>(path: string, call: LxcCall): Promise<T> {
    const out = await run(["query", path], call);
    try {
      return JSON.parse(out) as T;
    } catch (e) {
      throw new BackendError("bad_response", `${call.what} failed: lxc query ${path} did not answer JSON`, { cause: e, stderrTail: out.slice(0, 300) });
    }
  }

  return {
    run,
    query,
    async find<T>(path: string, call: LxcCall, absent: LxcErrorCode) {
      try {
        return await query<T>(path, call);
      } catch (e) {
        if (e instanceof BackendError && e.code === absent) return undefined;
        throw e;
      }
    },
  };
}
