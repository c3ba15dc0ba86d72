// A chat-neutral reply, built once by pure functions (src/replies/) and rendered by each adapter:
// plain text in the console, Block Kit in Slack.

export interface Button {
  label: string;
  /** What pressing it does: a command line run as the person who clicks ("list demo --page 2"). */
  command: string;
  style?: "primary" | "danger";
}

export interface Table {
  columns: string[];
  rows: string[][];
}

export interface Reply {
  /** ephemeral: only the asker sees it; channel: posted for everyone (long work, alerts, approvals). */
  visibility: "ephemeral" | "channel";
  tone: "info" | "success" | "error" | "progress";
  title: string;
  lines?: string[];
  /** Lines drawn as they are in a fixed-width font, after `lines` (a tree's branches line up): code blocks in Slack. */
  monospace?: string[];
  fields?: Array<[string, string]>;
  table?: Table;
  buttons?: Button[];
  /** Long work: later versions of this same message (progress, then the result). */
  follow?: Follow;
  /** In answer to a button: this is the new version of the message the button was on (Approve → "approved"). */
  replaces?: boolean;
  /** Called by the adapter with where a channel reply was posted (an approval keeps it, to update it later); awaited. */
  onPosted?: (ref: MessageRef) => void | Promise<void>;
}

export interface Follow {
  /** Called with each newer version of the message, in order; the last one is the result. */
  subscribe(listener: (update: Reply) => void): void;
  /** Resolves with the final version when the work ends, whatever its outcome. */
  done: Promise<Reply>;
}

export const ephemeral = (title: string, lines?: string[]): Reply => ({ visibility: "ephemeral", tone: "info", title, lines });
export const errorReply = (message: string): Reply => ({ visibility: "ephemeral", tone: "error", title: message });

/** A message posted in chat, to update or reply to in its thread. */
export interface MessageRef {
  channel: string;
  ts: string;
}
