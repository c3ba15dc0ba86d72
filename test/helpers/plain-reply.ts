import type { Reply } from "../../src/reply.ts";
import { plainMentions } from "../../src/replies/mention.ts";

/** A reply as the console shows it: the people it names (mention()) as plain ids; its follow-ups too. */
export function plainReply(r: Reply): Reply {
  const out: Reply = { ...r, title: plainMentions(r.title) };
  if (r.lines) out.lines = r.lines.map(plainMentions);
  if (r.fields) out.fields = r.fields.map(([k, v]) => [plainMentions(k), plainMentions(v)]);
  if (r.table) out.table = { columns: r.table.columns, rows: r.table.rows.map((row) => row.map(plainMentions)) };
  const follow = r.follow;
  if (follow) out.follow = { subscribe: (l) => follow.subscribe((u) => l(plainReply(u))), done: follow.done.then(plainReply) };
  return out;
}
