import type { Command, Role } from "./types.ts";
import { UserError } from "../src/errors.ts";

// Subcommands of the contract whose capability arrives with a later issue: they answer clearly
// instead of failing, and appear in help so people know they are coming.
function later(name: string, usage: string, summary: string, why: string, role: Role = "operator"): Command {
  return {
    name,
    usage,
    summary: `${summary} (not available yet)`,
    role,
    run() {
      throw new UserError("not_available", `${name} ${why}, not available yet`);
    },
  };
}

export const comingLater: Command[] = [
  later("alerts", "alerts", "list the open alerts", "needs the alert engine"),
];
