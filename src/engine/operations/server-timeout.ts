import type { ServerRow } from "../../../db/types.ts";
import type { EngineDeps } from "../deps.ts";
import { timeoutMs } from "../../duration.ts";
import { timeoutSettingOf } from "../../drivers/shared/common-settings.ts";

/** A server's operation timeout: its own `timeout:` (a setting every driver has), else engine.timeout. */
export function serverTimeoutMs(deps: Pick<EngineDeps, "config">, server: ServerRow): number {
  return timeoutMs(timeoutSettingOf(server.settings) ?? deps.config.engine.timeout);
}
