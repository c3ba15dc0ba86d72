import type { Job } from "../engine/operations/job-runner.ts";
import type { Progress } from "../drivers/driver.ts";
import type { Follow, Reply } from "../reply.ts";
import { formatBytes, formatAge } from "../duration.ts";
import { failureMessage, OUTCOME_PENDING } from "../engine/operations/run-operation.ts";
import { SnapbotError } from "../errors.ts";
import { clip } from "./format.ts";
import { mention } from "./mention.ts";

export interface JobStory<T> {
  what: string; // "create demo/nightly"
  who: string;
  opId: number;
  now: () => number;
  done: (value: T, tookMs: number) => Omit<Reply, "visibility">;
  retry?: string; // a command to offer when it fails
}

const head = (s: { what: string; who: string; opId: number }) => `${s.what} (operation #${s.opId}, asked by ${mention(s.who)})`;

export function progressText(p: Progress): string {
  const amount = p.bytes === undefined ? "" : p.totalBytes ? ` ${Math.floor((100 * p.bytes) / p.totalBytes)}% (${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)})` : ` ${formatBytes(p.bytes)}`;
  return `${p.stage}…${amount}${p.message ? ` ${p.message}` : ""}`;
}

/** The first version of a long job's message: posted in the channel, then updated in place. */
export function jobReply<T>(job: Job<T>, story: JobStory<T>): Reply {
  const started = story.now();
  const listeners: Array<(r: Reply) => void> = [];
  let last: Reply | undefined; // replayed to a late subscriber, so no stage is lost to timing
  const emit = (r: Reply) => {
    last = r;
    listeners.forEach((l) => l(r));
  };
  const progress = (line: string): Reply => ({ visibility: "channel", tone: "progress", title: head(story), lines: [line] });
  job.on("started", () => emit(progress("started")));
  job.on("progress", (p) => emit(progress(progressText(p))));
  const done = job.done.then(
    (v): Reply => ({ visibility: "channel", ...story.done(v, story.now() - started) }),
    (e: unknown): Reply => (e instanceof SnapbotError && e.code === OUTCOME_PENDING ? pendingReply(story, e.message) : failedReply(story, failureMessage(e))),
  );
  void done.then(emit);
  const follow: Follow = {
    subscribe: (l) => {
      listeners.push(l);
      if (last) l(last);
    },
    done,
  };
  return { visibility: "channel", tone: "progress", title: head(story), lines: ["queued"], follow };
}

export function failedReply(story: { what: string; who: string; opId: number; retry?: string }, message: string): Reply {
  const [first, ...rest] = message.split("\n");
  return {
    visibility: "channel",
    tone: "error",
    title: `${story.what} failed (operation #${story.opId}, asked by ${mention(story.who)})`,
    lines: [clip(first ?? "", 500), ...(rest.length ? [rest.slice(-8).join("\n")] : [])],
    buttons: story.retry ? [{ label: "Retry", command: story.retry }] : undefined,
  };
}

/** The work finished but its result could not be recorded yet (a full ledger): neither done nor failed. */
export function pendingReply(story: { what: string; who: string; opId: number }, message: string): Reply {
  return { visibility: "channel", tone: "info", title: `${story.what} finished, not recorded yet (operation #${story.opId}, asked by ${story.who})`, lines: [message] };
}

export const took = (ms: number) => formatAge(ms);
