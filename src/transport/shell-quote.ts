// ssh joins its arguments into ONE string that the remote login shell parses, so every remote word must
// be quoted. POSIX single quotes make everything literal (newlines, `$(...)`, backticks, `;`, `\`); the only
// character they cannot hold is `'` itself, written as `'\''` (close, escaped quote, reopen).

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One word for a POSIX shell, reaching the program as exactly `arg`. */
export function shellQuote(arg: string): string {
  if (arg.includes("\0")) throw new TypeError("a shell argument cannot contain a NUL byte");
  // Plain words stay readable in logs; "-" and "=" alone are still single words.
  if (SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** `cmd arg…` as one command line for a POSIX shell, every word quoted. */
export function remoteCommand(cmd: string, args: readonly string[] = []): string {
  if (cmd === "") throw new TypeError("a remote command needs a program name");
  return [cmd, ...args].map(shellQuote).join(" ");
}
