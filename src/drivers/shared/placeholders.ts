// {key} inside one argv element becomes its value inside that same element: "--dbname={db}" stays one argument
// whatever the value holds (spaces, quotes, ";", $), because no shell ever reads it (DESIGN.md §3). {{key}} is
// the text {key}; every other brace is itself, so JSON in an argument ('{"a":{"b":1}}') passes untouched. One
// grammar for hooks and command steps alike; each says which keys it knows.

const PLACEHOLDER = /\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export type Values = Readonly<Record<string, string>>;

/** `arg` with each {key} replaced; a key without a value is a bug here (the config check refuses it at start-up). */
export function substitute(arg: string, values: Values): string {
  return arg.replace(PLACEHOLDER, (_whole, literal: string | undefined, key: string | undefined) => {
    if (literal !== undefined) return `{${literal}}`;
    const v = values[key!];
    if (v === undefined) throw new Error(`placeholder {${key}} is not defined`);
    return v;
  });
}

/** The placeholder names one argv element uses ({{key}} is not one). */
export function placeholdersIn(arg: string): string[] {
  return [...arg.matchAll(PLACEHOLDER)].map((m) => m[2]).filter((k): k is string => k !== undefined);
}

/** The first placeholder in `arg` that is not one of `known`, or null. */
export function unknownPlaceholder(arg: string, known: readonly string[]): string | null {
  return placeholdersIn(arg).find((k) => !known.includes(k)) ?? null;
}
