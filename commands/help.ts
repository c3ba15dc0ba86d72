import type { Command } from "./types.ts";
import { UserError } from "../src/errors.ts";
import { DEMO_READ_ONLY } from "./roles.ts";

// help needs the registry, which needs help: the registry passes itself in.
export function helpCommand(all: () => Command[]): Command {
  return {
    name: "help",
    usage: "help [<command>]",
    summary: "show the commands, or how to use one",
    role: "operator",
    readOnly: true,
    run(ctx, args) {
      const topic = args.positionals[0];
      if (topic) {
        const c = all().find((x) => x.name === topic);
        if (!c) throw new UserError("unknown_command", `no command "${topic}": type help for the list`);
        return { visibility: "ephemeral", tone: "info", title: `/snapshot ${c.usage}`, lines: [c.summary, `for: ${c.role}s`] };
      }
      return {
        visibility: "ephemeral",
        tone: "info",
        title: "/snapshot commands",
        table: { columns: ["command", "what it does"], rows: all().filter((c) => !c.hidden).map((c) => [c.usage, c.summary]) },
        lines: [
          "Snapshots are named <server>/<snapshot>. Durations: 30M 2H 3d 4w 5m 1y (M minutes, m months).",
          ...(ctx.config.readOnly ? [`Only list, show, servers, schedules, alerts and audit run here: ${DEMO_READ_ONLY}`] : []),
        ],
      };
    },
  };
}
