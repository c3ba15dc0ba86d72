// JSON columns: parsed on the way out, so callers never see strings.
export function toJson(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}
export function fromJson<T>(v: unknown): T | null {
  return typeof v === "string" ? (JSON.parse(v) as T) : null;
}
