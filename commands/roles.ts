import type { Config } from "../src/config/load-config.ts";
import type { Command, Role } from "./types.ts";
import type { ParsedArgs } from "./parse.ts";
import { UserError } from "../src/errors.ts";

const listed = (list: string[], user: string) => list.includes("*") || list.includes(user);

/** Admins may do everything; approvers and operators what their role names ("*" is everyone). */
export function hasRole(config: Config, user: string, role: Role): boolean {
  const { admins, approvers, operators } = config.roles;
  if (listed(admins, user)) return true;
  if (role === "admin") return false;
  if (role === "approver") return listed(approvers, user);
  return listed(operators, user) || listed(approvers, user);
}

export function requireRole(config: Config, user: string, role: Role, what: string): void {
  if (hasRole(config, user, role)) return;
  const who = role === "admin" ? "admins" : role === "approver" ? "approvers" : "operators";
  throw new UserError("forbidden", `${what} is for ${who} only, and ${user} is not one: ask an admin to add you under roles.${who} in the config`);
}

export const DEMO_READ_ONLY =
  "this bot runs on the built-in demo config, read-only in Slack: write a snapbot.yml with roles: " +
  "(admins, approvers, operators as Slack member IDs) and servers:, see README → Configuration";

/** On a read-only bot only commands that say they change nothing run; a new command is refused by default. */
export function requireWritable(config: Config, command: Command, args: ParsedArgs): void {
  if (config.readOnly && !changesNothing(command, args)) throw new UserError("read_only", `${command.name} is refused: ${DEMO_READ_ONLY}`);
}

/** Whether the command, with these arguments, changes nothing (so it runs read-only, and on a full ledger). */
export function changesNothing(command: Command, args: ParsedArgs): boolean {
  return typeof command.readOnly === "function" ? command.readOnly(args) : command.readOnly === true;
}
