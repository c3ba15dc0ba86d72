// A person named in a reply. Slack shows a member id as a mention (<@U0ALICE>: their name, a link to them);
// the console shows the plain id. Replies stay chat-neutral: the id is wrapped in two private-use
// characters, which each adapter turns into its own form (src/chat/slack/block-kit.ts, render-text.ts).

const OPEN = "\uE000";
const CLOSE = "\uE001";
const MEMBER_ID = /^[UW][A-Z0-9]{2,}$/; // a Slack member id; "console", "scheduler" and the like stay text
const MARKED = /\uE000([UW][A-Z0-9]{2,})\uE001/g;
const STRAY = /[\uE000\uE001]/g; // half a marker, left by a cut

/** The user, marked as a person when it is a Slack member id; anything else unchanged. */
export function mention(user: string): string {
  return MEMBER_ID.test(user) ? `${OPEN}${user}${CLOSE}` : user;
}

/** Each marked person rendered by `as` (Slack: "<@U0ALICE>"), stray marker characters dropped. */
export function renderMentions(text: string, as: (id: string) => string): string {
  return text.replace(MARKED, (_, id: string) => as(id)).replace(STRAY, "");
}

/** The text as the console shows it: marked people as their plain ids. */
export const plainMentions = (text: string): string => renderMentions(text, (id) => id);
