import { UserError } from "./errors.ts";

// The contract's name rule (DESIGN.md §2): safe as a path segment, an argv item and an LXD name.
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkName(kind: "server" | "snapshot" | "user", value: string): string {
  if (NAME_PATTERN.test(value) && !value.includes("..")) return value;
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  throw new UserError(
    "bad_name",
    `"${shown}" is not a valid ${kind} name: use 1–63 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. web-1)`,
  );
}

export interface SnapshotRef {
  server: string;
  snapshot: string;
}

export function parseSnapshotRef(text: string, usage: string): SnapshotRef {
  const slash = text.indexOf("/");
  if (slash < 0) throw new UserError("bad_ref", `"${text}" is not <server>/<snapshot>; usage: ${usage}`);
  return {
    server: checkName("server", text.slice(0, slash)),
    snapshot: checkName("snapshot", text.slice(slash + 1)),
  };
}
