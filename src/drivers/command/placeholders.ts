import type { SettingProblem } from "../../config/setting-problem.ts";
import { BUILTIN_PLACEHOLDERS, type CommandSettings, type Steps } from "./command-settings.ts";
import { placeholdersIn, substitute, type Values } from "../shared/placeholders.ts";

// The command driver's steps: the placeholder grammar is the shared one (src/drivers/shared/placeholders.ts);
// here, which keys a server's steps may use (its vars and snapbot's own), and how a step is shown.

export type { Values };

export function substituteStep(step: string[], values: Values): string[] {
  return step.map((a) => substitute(a, values));
}

/** Whether any step names {key} (create naming {file}: the snapshot is that file). */
export function names(steps: Steps, key: string): boolean {
  return steps.some((s) => s.some((a) => placeholdersIn(a).includes(key)));
}

const LISTS = ["create", "restore", "check", "clean", "versions"] as const;

/** Every {x} a step uses must be a var or one of snapbot's own; a var may not shadow those. Named by key and step. */
export function placeholderProblems(s: CommandSettings): SettingProblem[] {
  const problems: SettingProblem[] = [];
  for (const v of Object.keys(s.vars))
    if ((BUILTIN_PLACEHOLDERS as readonly string[]).includes(v))
      problems.push({ code: "bad_var", key: `vars.${v}`, why: `{${v}} is snapbot's own placeholder: give the var another name` });
  const known = new Set([...BUILTIN_PLACEHOLDERS, ...Object.keys(s.vars)]);
  for (const list of LISTS) {
    (s[list] ?? []).forEach((step, i) => {
      step.forEach((arg, j) => {
        for (const key of placeholdersIn(arg))
          if (!known.has(key))
            problems.push({
              code: "undefined_placeholder",
              key: `${list}[${i}][${j}]`,
              why: `{${key}} is not defined: add it under vars (vars: { ${key}: … }) or use one of {name} {server} {file} {dir}`,
            });
      });
    });
  }
  return problems;
}

/** An argv as metadata.json and logs show it: the template (vars stay {db}, so no secret in a var is shown), URL passwords masked. */
export function shownStep(step: string[]): string[] {
  return step.map((a) => a.replace(/(\/\/[^/:@\s]*):[^@/\s]*@/g, "$1:***@"));
}
