import { format } from "node:util";
import type { Logger } from "pino";
import { LogLevel, type Logger as BoltLogger } from "@slack/bolt";

const ORDER: LogLevel[] = [LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN, LogLevel.ERROR];

/**
 * Bolt's and the WebClient's log lines, forwarded to pino (whose redaction and token scrubbing apply).
 * Never below info: at debug they print request bodies and headers.
 */
export function boltLogger(log: Logger): BoltLogger {
  const child = log.child({ component: "bolt" });
  let level = log.isLevelEnabled("debug") ? LogLevel.INFO : LogLevel.WARN;
  const at = (l: LogLevel, write: (msg: string) => void) => (...args: unknown[]) => {
    if (ORDER.indexOf(l) >= ORDER.indexOf(level)) write(format(...args));
  };
  return {
    debug: at(LogLevel.DEBUG, (m) => child.debug(m)),
    info: at(LogLevel.INFO, (m) => child.info(m)),
    warn: at(LogLevel.WARN, (m) => child.warn(m)),
    error: at(LogLevel.ERROR, (m) => child.error(m)),
    setLevel: (l: LogLevel) => void (level = l === LogLevel.DEBUG ? LogLevel.INFO : l),
    getLevel: () => level,
    setName: () => {},
  };
}
