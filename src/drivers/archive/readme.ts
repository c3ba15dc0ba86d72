import { compressionByName } from "./compression.ts";
import type { Manifest } from "./archive-manifest.ts";

// README.txt lets someone without snapbot (or after it is gone) check and restore a snapshot by hand.

export const README_FILE = "README.txt";

export function renderReadme(m: Manifest): string {
  // An encrypted stream is decrypted first: age with the identity of one of its recipients.
  const unzip = `${m.encryption ? "age -d -i /path/to/age-identity.txt | " : ""}${compressionByName(m.compression).decompress}`;
  const restore =
    m.mode === "tar"
      ? [`  mkdir -p /tmp/restore && cat .parts/part-* | ${unzip} | tar -xpf - -C /tmp/restore`, "", "  (members are stored relative to /; extract with -C / to put them back in place)"]
      : [`  cat .parts/part-* | ${unzip} | dd of=/path/to/device-or-image bs=4M status=progress`];
  const sealed = m.encryption
    ? [
        `Encrypted with age (${m.encryption.format}) after compression, to: ${m.encryption.recipients.join(", ")}.`,
        "The parts hold only ciphertext: the checks below need no key; restoring needs the identity of a recipient.",
      ]
    : [];
  return [
    `snapbot snapshot ${m.server}/${m.snapshot}`,
    "",
    `Made ${m.finished_at} (started ${m.created_at}) from ${m.source.host}: ${m.mode} of ${m.source.paths.join(", ")}`,
    ...(m.source.exclude.length ? [`Excluded: ${m.source.exclude.join(", ")}`] : []),
    `Compression: ${m.compression}. ${m.parts.length} part(s) of at most ${m.part_size} bytes, ${m.total.size} bytes in total.`,
    ...sealed,
    "",
    `The parts, concatenated in name order, are one ${m.encryption ? "age-encrypted" : "compressed"} stream.`,
    "",
    "Check the parts (run inside this folder):",
    "",
    "  grep -E '^[0-9a-f]{64}  ' README.txt | sha256sum -c",
    "",
    ...m.parts.map((p) => `${p.sha256}  ${p.file}`),
    "",
    "Check the whole stream:",
    "",
    "  cat .parts/part-* | sha256sum",
    "",
    `  expected SHA-256: ${m.total.sha256}`,
    ...(m.total.md5 ? ["", "  cat .parts/part-* | md5sum", "", `  expected MD5:     ${m.total.md5}`] : []),
    "",
    "Restore by hand:",
    "",
    ...restore,
    "",
  ].join("\n");
}
