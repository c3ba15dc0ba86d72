import type { DriverModule } from "../driver.ts";
import { partSizeProblem, type SettingProblem } from "../../config/setting-rules.ts";
import { withSsh } from "../shared/with-ssh.ts";
import { whereText } from "../shared/ssh-settings.ts";
import { createCommandDriver } from "./command-driver.ts";
import { commandSettingsSchema, type CommandSettings } from "./command-settings.ts";
import { placeholderProblems } from "./placeholders.ts";

// driver: command as the platform knows it (DESIGN.md §1a): any application with a CLI (pg_dump, etcdctl, cfy).
// Sensitive by default: an application's state holds credentials, so it is encrypted at rest unless sensitive: false.
export const commandDriver: DriverModule<CommandSettings> = {
  kind: "command",
  summary: "an application's state through its own CLI (pg_dump, etcdctl, cfy…), stored as verified, encrypted parts",
  settings: commandSettingsSchema,
  features: { restoreForce: true, sensitive: true, verifyFull: true },
  create: (server, deps) => withSsh(server.name, server.settings, deps, (d) => createCommandDriver({ ...server.settings, name: server.name }, d)),
  describe: (s) => [s.create.at(-1)![0], whereText(s), s.store ? `→ ${s.store}` : ""].filter(Boolean).join(" "),
  settingProblems(s): SettingProblem[] {
    return [...placeholderProblems(s), partSizeProblem(s.part_size)].filter((p): p is SettingProblem => p !== null);
  },
};
