import type { PartStore } from "../../storage/part-store.ts";
import type { AtRest } from "../../storage/encryption/at-rest.ts";
import type { Runner } from "../../transport/runner.ts";
import type { CommandSettings } from "./command-settings.ts";

/** What every part of one command server works with, built once by the driver. */
export interface CommandContextDeps {
  settings: CommandSettings & { name: string };
  runner: Runner; // where the steps run: this machine, or host: ssh://… (withSsh)
  store: PartStore;
  atRest: AtRest;
  partSize: number;
  sensitive: boolean;
  /** Each step is killed (its process group) after this long: the server's timeout. */
  timeoutMs?: number;
}
