// Work that follows an ack waits its turn behind the acks. Slack gives an ack 3 seconds and then
// retries or shows the user an error; the work behind it (a list, a post) can wait a moment. So while
// requests are waiting for their ack, queued work waits too, up to `maxWaitMs`; otherwise each turn
// of the event loop starts at most `perTurn` jobs (check phase), after answering the requests that
// arrived (poll phase). A job's later async steps (a Web API call, a long operation) do not hold the queue.

export interface AfterAck {
  /** Starts `job` after the acks waiting now; its promise settles when the job does. */
  run<T>(job: () => Promise<T>): Promise<T>;
  /** Jobs not started yet. */
  waiting(): number;
}

export interface AfterAckOptions {
  /** True while requests wait for their ack (HTTP mode counts them at its server); none when unset. */
  acksPending?: () => boolean;
  /** The longest a job waits for acks: under sustained load, work still moves. */
  maxWaitMs?: number;
  perTurn?: number;
  now?: () => number;
}

export function createAfterAck(o: AfterAckOptions = {}): AfterAck {
  const { acksPending = () => false, maxWaitMs = 1000, perTurn = 1, now = () => performance.now() } = o;
  const queue: Array<{ start: () => void; at: number }> = [];
  let scheduled = false;
  const pump = () => {
    scheduled = false;
    const overdue = () => now() - queue[0]!.at >= maxWaitMs;
    const held = () => acksPending() && !overdue();
    for (let i = 0; i < perTurn && queue.length && !held(); i++) queue.shift()!.start();
    if (queue.length) schedule(held());
  };
  // Held work looks again in a millisecond rather than spinning the loop while requests are read.
  const schedule = (held = false) => {
    if (scheduled) return;
    scheduled = true;
    if (held) setTimeout(pump, 1);
    else setImmediate(pump);
  };
  return {
    run(job) {
      return new Promise((resolve, reject) => {
        queue.push({ start: () => void job().then(resolve, reject), at: now() });
        schedule();
      });
    },
    waiting: () => queue.length,
  };
}
