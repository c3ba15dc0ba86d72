import { z } from "zod";
import { commonSettingsFields, sizeSetting } from "../shared/common-settings.ts";
import { sshSettingsFields } from "../shared/ssh-settings.ts";
import { NAME_PATTERN } from "../../names.ts";

// The settings of `driver: archive` (DESIGN.md §3), owned by the driver's folder and composed into the
// config schema by the platform: folders as tar (mode tar, paths) or a block device as a raw image (mode raw).

export const archiveSettingsSchema = z
  .object({
    driver: z.literal("archive"),
    mode: z.enum(["tar", "raw"]).default("tar"),
    paths: z.array(z.string().min(1)).default([]),
    exclude: z.array(z.string().min(1)).default([]),
    device: z.string().min(1).optional(),
    ...sshSettingsFields,
    part_size: sizeSetting.optional(),
    compression: z.enum(["auto", "zstd", "gzip"]).default("auto"),
    // README.txt also gives the whole stream's MD5 (as Memset's does). Off by default: SHA-256 is given either
    // way, and MD5 is the costliest hash of all (~2 CPU-seconds a GiB stored): on 2 cores it slows every create.
    readme_md5: z.boolean().optional(),
    // Where its snapshots are kept: a storage target (storage.targets.<name>, e.g. offsite S3) instead of storage.path.
    store: z.string().regex(NAME_PATTERN, "the name of a storage target under storage.targets (e.g. offsite)").optional(),
    ...commonSettingsFields,
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.mode === "tar" && s.paths.length === 0)
      ctx.addIssue({ code: "custom", path: ["paths"], message: "a list of folders to archive (mode tar needs paths)" });
    if (s.mode === "raw" && !s.device)
      ctx.addIssue({ code: "custom", path: ["device"], message: "a block device or image file (mode raw needs device)" });
  });

export type ArchiveSettings = z.infer<typeof archiveSettingsSchema>;
