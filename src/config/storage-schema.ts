import { z } from "zod";
import { NAME_PATTERN } from "../names.ts";
import { parseKeep } from "../retention/keep-policy.ts";
import { recipientProblem } from "../storage/encryption/age-keys.ts";

// storage: in snapbot.yml (DESIGN.md §3): the local folder every stored snapshot goes to by default, and the
// named targets a snapshot can also live on (offsite S3, a shared folder). A target is exactly one place
// (`s3:` or `path:`) and may have its own retention (`keep:`, restic semantics), independent of the source's.

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "the name of an environment variable, like S3_ACCESS_KEY");

export const s3TargetSchema = z
  .object({
    endpoint: z.string().regex(/^https?:\/\/[^\s/]+/, "an http(s) URL, like https://s3.example.com"),
    bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name (3-63 lower-case letters, digits, '.', '-')"),
    // Object keys are <prefix><server>/<snapshot>/…: a prefix is a folder (ends with "/") or empty.
    prefix: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, "a key prefix like prod/ (ending with /), or empty").default(""),
    region: z.string().min(1).default("us-east-1"),
    access_key_env: envName,
    secret_key_env: envName,
    force_path_style: z.boolean().default(false),
  })
  .strict();
export type S3TargetSettings = z.infer<typeof s3TargetSchema>;

function keepRule(value: string, ctx: z.RefinementCtx): void {
  try {
    parseKeep(value);
  } catch (e) {
    ctx.addIssue({ code: "custom", message: (e as Error).message.replace(/--keep /g, "") });
  }
}

export const targetSchema = z
  .object({
    s3: s3TargetSchema.optional(),
    path: z.string().min(1).optional(),
    // Checked with the parser the target's retention uses, so a typo stops start-up instead of the first prune.
    keep: z.string().min(1).superRefine(keepRule).optional(),
  })
  .strict()
  .refine((t) => (t.s3 === undefined) !== (t.path === undefined), "exactly one of s3: (an S3 bucket) or path: (a folder)");
export type TargetSettings = z.infer<typeof targetSchema>;

/** "local" names storage.path itself (`--from local`), so no target may take it. */
export const LOCAL_TARGET = "local";
const targetName = z
  .string()
  .regex(NAME_PATTERN, "a name of letters, digits, '.', '_' or '-' (e.g. offsite)")
  .refine((n) => n !== LOCAL_TARGET, `"${LOCAL_TARGET}" is storage.path itself: choose another name, like offsite`);

// storage.encryption: age recipients (public keys, checked here) and the identity file (a path, checked by
// the loader once resolved: it reads the file).
const recipient = z.string().superRefine((r, ctx) => {
  const problem = recipientProblem(r);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
const encryptionSchema = z
  .object({ recipients: z.array(recipient).default([]), identity_file: z.string().min(1).optional() })
  .strict();

export const storageSchema = z
  .object({
    path: z.string().min(1).default("./data/snapshots"),
    targets: z.record(targetName, targetSchema).default({}),
    encryption: encryptionSchema.optional(),
  })
  .strict()
  .default({ path: "./data/snapshots", targets: {} });
export type StorageSettings = z.infer<typeof storageSchema>;
