import { z } from "zod";
import { commonSettingsFields, sizeSetting } from "../shared/common-settings.ts";
import { sshSettingsFields } from "../shared/ssh-settings.ts";
import { NAME_PATTERN } from "../../names.ts";

// The settings of `driver: command` (DESIGN.md §3): any application with a CLI, as lists of steps, each an argv
// array whose elements may hold placeholders ({name} {server} {file} {dir} and vars), substituted inside the
// element and never through a shell. No compression setting: the stored stream is exactly the application's own
// artefact (pg_dump -Fc compresses already), so a restore by hand is `cat .parts/part-* [| age -d] > file`.

const argv = z.array(z.string()).min(1, "a step is an argv array with the program first, e.g. [pg_dump, -Fc]");
const steps = z.array(argv);
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Placeholders snapbot fills in itself; a var cannot take their names. */
export const BUILTIN_PLACEHOLDERS = ["name", "server", "file", "dir"] as const;

export const commandSettingsSchema = z
  .object({
    driver: z.literal("command"),
    vars: z.record(z.string().regex(VAR_NAME, "a var name: letters, digits and _"), z.string()).default({}),
    create: steps.min(1, "at least one step: the last one's stdout is the snapshot, unless a step names {file} or {dir}"),
    restore: steps.optional(),
    check: steps.default([]),
    clean: steps.default([]),
    // The programs whose `--version` is recorded in metadata.json; default: every create step's program.
    versions: steps.optional(),
    ...sshSettingsFields,
    part_size: sizeSetting.optional(),
    store: z.string().regex(NAME_PATTERN, "the name of a storage target under storage.targets (e.g. offsite)").optional(),
    ...commonSettingsFields,
  })
  .strict();

export type CommandSettings = z.infer<typeof commandSettingsSchema>;
export type Steps = string[][];
