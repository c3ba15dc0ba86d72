import type { Reply } from "../../../src/reply.ts";

// How the command driver's tests read replies: the follow-up of long work, the approval a restore asks for,
// and everything a reply says as one text to match against.

export const done = (r: Reply): Promise<Reply> => {
  if (!r.follow) throw new Error(`expected long work, got: ${r.title} ${(r.lines ?? []).join(" / ")}`);
  return r.follow.done;
};
export const approvalOf = (r: Reply): number => Number(/approve (\d+)/.exec(r.buttons?.[0]?.command ?? "")?.[1] ?? NaN);
export const text = (r: Reply): string => [r.title, ...(r.lines ?? []), ...(r.fields ?? []).map((f) => f.join(": "))].join("\n");
