// One error family with a stable `code`: a UserError is shown to the user as one short line,
// anything else is logged with context and the user is told the operation failed.
export class SnapbotError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad input or a refused request: the message says what was wrong and what to type instead. */
export class UserError extends SnapbotError {}

/** A backend (tar, lxc, ssh…) failed; `stderrTail` keeps the last lines for the user. */
export class BackendError extends SnapbotError {
  readonly stderrTail: string;
  constructor(code: string, message: string, options?: { cause?: unknown; stderrTail?: string }) {
    super(code, message, options);
    this.stderrTail = options?.stderrTail ?? "";
  }
}

/** The ledger was asked for a state change the state machine forbids. */
export class IllegalTransitionError extends SnapbotError {
  constructor(entity: string, id: number, from: string, to: string) {
    super("illegal_transition", `${entity} #${id} cannot go from ${from} to ${to}`);
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
