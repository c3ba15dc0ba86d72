import { BackendError } from "../../errors.ts";
import type { Runner, Stage } from "../../transport/runner.ts";

export type CompressionName = "zstd" | "gzip";
export type CompressionSetting = "auto" | CompressionName;

export interface Compression {
  name: CompressionName;
  stage: Stage;
  /** The command that undoes it, for README.txt and restore. */
  decompress: string;
}

// Level 1 on all cores: snapshots are about speed, and zstd -1 still beats gzip -6 on ratio.
const COMPRESSORS: Record<CompressionName, Compression> = {
  zstd: { name: "zstd", stage: { cmd: "zstd", args: ["-1", "-T0", "-q", "-c"] }, decompress: "zstd -d" },
  gzip: { name: "gzip", stage: { cmd: "gzip", args: ["-1", "-c"] }, decompress: "gzip -d" },
};

export function compressionByName(name: CompressionName): Compression {
  return COMPRESSORS[name];
}

/** "auto" takes zstd where installed, else gzip; an explicit choice that is missing is refused up front. */
export async function chooseCompression(setting: CompressionSetting, runner: Runner, server: string): Promise<Compression> {
  const wanted: CompressionName[] = setting === "auto" ? ["zstd", "gzip"] : [setting];
  for (const name of wanted) if (await runner.has(name)) return COMPRESSORS[name];
  const hint = setting === "zstd" ? "install zstd or set compression: gzip" : `install ${wanted.join(" or ")}`;
  throw new BackendError("compression_missing", `${wanted.join(" and ")} not installed for ${server}: ${hint}`);
}
