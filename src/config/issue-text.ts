import type { z } from "zod";

// zod's messages ("Invalid input: expected string, received undefined") are for programmers. The config
// loader and register both say what a setting is in the user's words, through this one phrasing.

/** What a setting holds, for "image is required (the path of the qcow2 image)". */
const WHAT: Record<string, string> = {
  image: "the path of the qcow2 image",
  paths: "a list of absolute folders to archive",
  device: "a block device or image file",
  address: "Consul's HTTP address, e.g. http://127.0.0.1:8500",
  create: "the command that writes the snapshot",
  driver: "one of archive, lxd, qemu, consul, command",
};

const TYPES: Record<string, string> = {
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "a mapping of key: value",
};

/** The issue says a key is missing (not wrong). */
export function isMissing(issue: z.core.$ZodIssue): boolean {
  return issue.code === "invalid_type" && / received undefined$/.test(issue.message);
}

/** "the path of the qcow2 image": what a missing key should hold. */
export function whatKeyHolds(key: string): string {
  return WHAT[key] ?? "see the README for its meaning";
}

/** One human phrase for a shape problem, read after "<key>: ". */
export function issueText(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${TYPES[issue.expected] ?? issue.expected}`;
    case "invalid_value":
      return `expected one of ${issue.values.map(String).join(", ")}`;
    case "too_small":
      return sizeText("at least", issue.origin, issue.minimum, issue.inclusive);
    case "too_big":
      return sizeText("at most", issue.origin, issue.maximum, issue.inclusive);
    case "invalid_union":
      return "expected a different kind of value: see the README for this setting";
    case "invalid_format":
      if (issue.format === "url") return "expected a URL, e.g. http://127.0.0.1:8500";
      if (issue.format === "starts_with") return `must start with "${(issue as { prefix?: string }).prefix ?? ""}"`;
      return issue.message.startsWith("Invalid") ? `is not in the right format` : issue.message;
    default:
      return issue.message.replace(/^Invalid input: /, "");
  }
}

function sizeText(bound: "at least" | "at most", origin: string, limit: number | bigint, inclusive: boolean | undefined): string {
  const n = Number(limit) + (inclusive === false ? (bound === "at least" ? 1 : -1) : 0);
  if (origin === "string") return n <= 1 && bound === "at least" ? "must not be empty" : `expected ${bound} ${n} characters`;
  if (origin === "array") return `expected ${bound} ${n} item${n === 1 ? "" : "s"}`;
  if (inclusive === false) return `expected a number ${bound === "at least" ? "above" : "below"} ${Number(limit)}`;
  return `expected a number ${bound} ${n}`;
}
