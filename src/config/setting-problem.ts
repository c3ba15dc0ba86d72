// One setting that cannot work, as every rule reports it (the config loader, register and the code that uses
// the setting all show it the same way). In its own file so drivers' rules and the platform's share it
// without importing each other.

/** One setting that cannot work: its key, and why, in a line that says what to write instead. */
export interface SettingProblem {
  code: string;
  key: string;
  why: string;
}

/** A server's settings after its driver's schema: `driver` plus the driver's keys. */
export type ServerSettings = { driver: string } & Record<string, unknown>;
