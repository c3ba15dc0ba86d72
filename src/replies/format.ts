import { formatAge, formatBytes } from "../duration.ts";

export const utc = (ms: number | null): string => (ms === null ? "—" : new Date(ms).toISOString().replace("T", " ").slice(0, 19) + "Z");
export const ago = (now: number, ms: number | null): string => (ms === null ? "—" : `${formatAge(now - ms)} ago`);
export const size = (n: number | null): string => (n === null ? "—" : formatBytes(n));
export const shortHash = (h: string | null): string => (h ? `${h.slice(0, 19)}…` : "—");
export const dash = (v: string | null | undefined): string => (v === null || v === undefined || v === "" ? "—" : v);
export const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
