// Placeholders such as {server} are replaced inside one argv element at a time: the element stays one
// argument whatever the value holds (spaces, quotes, ";"), because no shell ever reads it (DESIGN.md §3).

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The first placeholder in `arg` that is not one of `known` (its bare name), or null. */
export function unknownPlaceholder(arg: string, known: readonly string[]): string | null {
  for (const m of arg.matchAll(PLACEHOLDER)) if (!known.includes(m[1]!)) return m[1]!;
  return null;
}

/** `arg` with each {key} of `values` replaced; the config check has refused any other {word}. */
export function substitute(arg: string, values: Readonly<Record<string, string>>): string {
  return arg.replace(PLACEHOLDER, (whole, key: string) => values[key] ?? whole);
}
