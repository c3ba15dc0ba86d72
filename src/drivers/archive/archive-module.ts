import type { DriverModule } from "../driver.ts";
import { EXPORT_FORMATS } from "../driver.ts";
import { absolutePathProblem, localPathProblem, partSizeProblem, type SettingProblem } from "../../config/setting-rules.ts";
import { withSsh } from "../shared/with-ssh.ts";
import { whereText } from "../shared/ssh-settings.ts";
import { createArchiveDriver } from "./archive-driver.ts";
import { archiveSettingsSchema, type ArchiveSettings } from "./archive-settings.ts";

// driver: archive as the platform knows it (DESIGN.md §1a). With host: ssh://… the same driver code runs
// with the ssh runner: tar/dd run on the server, the parts are stored on this machine.
export const archiveDriver: DriverModule<ArchiveSettings> = {
  kind: "archive",
  summary: "folders (tar) or a block device (raw) of a machine, local or over SSH, as verified parts",
  settings: archiveSettingsSchema,
  // Raw snapshots export as disk images; a tar one is refused by the driver, which knows its mode.
  // verify --full decrypts (sensitive servers) and decompresses the stored stream to its end.
  features: { exportFormats: EXPORT_FORMATS, verifyFull: true },
  create: (server, deps) => withSsh(server.name, server.settings, deps, (d) => createArchiveDriver({ ...server.settings, name: server.name }, d)),
  describe: (s) => [s.mode, s.mode === "tar" ? s.paths.join(", ") : s.device, whereText(s), s.store ? `→ ${s.store}` : ""].filter(Boolean).join(" "),
  settingProblems(s): SettingProblem[] {
    const paths: Array<[string, string]> = s.mode === "tar" ? s.paths.map((p) => ["paths", p]) : s.device ? [["device", s.device]] : [];
    const found = paths.map(([key, p]) => absolutePathProblem(key, p) ?? localPathProblem(key, p, s.host));
    return [...found, partSizeProblem(s.part_size)].filter((p): p is SettingProblem => p !== null);
  },
};
