import type { DriverDeps, SnapshotDriver } from "../driver.ts";
import { createSshHost, type SshHost } from "../../transport/ssh-host.ts";
import { sshHostKeys } from "./ssh-host-keys.ts";
import type { SshSettings } from "./ssh-settings.ts";
import type { Runner } from "../../transport/runner.ts";

// Any driver whose commands run on another machine (`host: ssh://user@host:port`): the same driver code is
// built with the ssh Runner, so its argv runs there (each argument shell-quoted by the runner); the host key
// is recorded on first use before anything talks to the server; and the server gains the host-key methods
// (read, regenerate with the one script, accept a changed key, endpoints for "same machine"). A driver's
// settings declare host/ssh_key/hostkey_root with `...sshSettingsFields` (ssh-settings.ts).

export type { SshSettings } from "./ssh-settings.ts";

/** `build` makes the driver for a runner; with `host: local` it gets deps unchanged. */
export function withSsh(
  server: string,
  settings: SshSettings,
  deps: DriverDeps,
  build: (deps: DriverDeps) => SnapshotDriver,
  talks: readonly (keyof SnapshotDriver)[] = ["create", "restore"],
): SnapshotDriver {
  if (settings.host === "local") return build(deps);
  const ssh = createSshHost({ server, host: settings.host, sshKey: settings.ssh_key, storageDir: deps.storageDir, local: deps.runner, log: deps.log });
  const keys = sshHostKeys(ssh, deps.runner, server, settings.hostkey_root ?? "/");
  const make = (d: DriverDeps): SnapshotDriver => {
    const driver = trustedFirst(build({ ...d, runner: ssh.runner }), ssh, talks);
    return {
      ...driver,
      // A copy read from another store (restore --from) still talks to this server: built the same way.
      ...(driver.withStore ? { withStore: (store) => make({ ...d, store }) } : {}),
      hostKeys: keys.current,
      regenHostKeys: keys.regenerate,
      presentedHostKeys: () => keys.presented(),
      acceptHostKeys: keys.accept,
      endpoints: keys.endpoints,
      // Hooks run where the server's commands run; the host key is recorded first, as before create.
      runner: () => trustedRunner(ssh),
    };
  };
  return make(deps);
}

/** The host key is recorded (first use) before the methods that talk to the server (`talks`) run. */
function trustedFirst(driver: SnapshotDriver, ssh: SshHost, talks: readonly (keyof SnapshotDriver)[]): SnapshotDriver {
  const wrapped: Record<string, unknown> = { ...driver };
  for (const name of talks) {
    const fn = driver[name];
    if (typeof fn !== "function") continue;
    wrapped[name] = async (...args: unknown[]) => {
      await ssh.ensureTrusted();
      return (fn as (...a: unknown[]) => unknown).apply(driver, args);
    };
  }
  return wrapped as unknown as SnapshotDriver;
}

/** The host's runner, its host key recorded (first use) before the first command it runs. */
function trustedRunner(ssh: SshHost): Runner {
  return {
    run: async (cmd, args, opts) => (await ssh.ensureTrusted(), ssh.runner.run(cmd, args, opts)),
    pipeline: (stages, opts) => ssh.runner.pipeline(stages, opts),
    has: async (cmd) => (await ssh.ensureTrusted(), ssh.runner.has(cmd)),
  };
}
