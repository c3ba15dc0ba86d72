import type { Manifest } from "./command-manifest.ts";

// README.txt: how to check and use the snapshot by hand, without snapbot (the same promise as the archive's).

export function renderCommandReadme(m: Manifest): string {
  const open = m.encryption ? " | age -d -i /path/to/age-identity.txt" : "";
  const out = m.artefact === "dir" ? ` | tar -xf - -C /path/to/folder` : ` > snapshot.bin`;
  return [
    `snapbot snapshot ${m.server}/${m.snapshot} (driver: command)`,
    "",
    `Made ${m.finished_at} (started ${m.created_at}); the ${m.artefact === "stdout" ? "last create step's stdout" : m.artefact === "file" ? "file a step wrote at {file}" : "folder a step wrote at {dir}, as a tar"}, ${m.plain_size} bytes.`,
    ...(m.encryption ? [`Encrypted with age to: ${m.encryption.recipients.join(", ")}.`] : []),
    `How it was made (steps, tool versions): metadata.json. ${m.parts.length} part(s), ${m.total.size} bytes stored.`,
    "",
    "Check the parts (inside this folder):",
    "",
    "  grep -E '^[0-9a-f]{64}  ' README.txt | sha256sum -c",
    "",
    ...m.parts.map((p) => `${p.sha256}  ${p.file}`),
    "",
    "The snapshot as the application wrote it:",
    "",
    `  cat .parts/part-*${open}${out}`,
    "",
  ].join("\n");
}
