import type { AlertKind } from "./sqlite/alert-repo.ts";

/** An alert's key: what makes two sightings the same alert (names never contain ":"). */
export const alertKey = (kind: AlertKind, server: string, snapshot?: string | null): string => [kind, server, snapshot ?? ""].join(":");

/** "server" or "server/snapshot", read back from a key. */
export function alertSubject(key: string): string {
  const [, server = "?", snapshot = ""] = key.split(":");
  return snapshot ? `${server}/${snapshot}` : server;
}
