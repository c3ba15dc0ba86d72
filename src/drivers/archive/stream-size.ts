// The logical size of a snapshot: the bytes of the uncompressed stream (the tar archive, the device image),
// which is what a restore writes. The compressor runs in a kernel pipe (on the server, over SSH), so Node
// never sees those bytes; tar --totals and dd count them and say so on stderr (read in the C locale).

const TAR_TOTAL = /^Total bytes written: (\d+)/m; // GNU tar --totals
const DD_TOTAL = /^(\d+) bytes\b.* copied/m; // GNU and busybox dd, on exit

export function streamSizeFrom(mode: "tar" | "raw", stderr: string): number | null {
  const m = (mode === "tar" ? TAR_TOTAL : DD_TOTAL).exec(stderr);
  return m ? Number(m[1]) : null;
}
