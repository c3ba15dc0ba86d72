import { isIPv6 } from "node:net";
import { UserError } from "../errors.ts";

// `host: "ssh://user@host:port"` from config. Parsed by hand rather than with URL: URL accepts
// percent-escapes, paths, passwords and odd hosts that would reach ssh's command line. Nothing that parses
// here can start with "-" (an ssh option) or hold spaces.

export interface SshTarget {
  user: string;
  /** Hostname, IPv4, or IPv6 without brackets. */
  host: string;
  port: number;
  /** `user@host` for the ssh command line (ssh takes IPv6 without brackets when -p gives the port). */
  destination: string;
  /** The name ssh files the host key under in known_hosts: `host`, or `[host]:port` off port 22. */
  knownHostsName: string;
  /** `ssh://user@host:port`, normalised, for messages. */
  url: string;
}

const EXAMPLE = "write it as ssh://user@host:port, e.g. ssh://backup@files-1.example.com:22";
const USER = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function parseSshTarget(text: string): SshTarget {
  const bad = (why: string) => new UserError("invalid_ssh_target", `Invalid SSH host "${text}": ${why}; ${EXAMPLE}.`);
  if (!text.startsWith("ssh://")) throw bad("it must start with ssh://");
  const rest = text.slice("ssh://".length);
  const at = rest.indexOf("@");
  if (at < 0) throw bad("a user is required (user@host)");
  const user = rest.slice(0, at);
  const hostPort = rest.slice(at + 1);
  if (user.includes(":")) throw bad("passwords are not accepted; snapbot logs in with a key file");
  if (!USER.test(user)) throw bad(`"${user}" is not a valid user name`);
  if (/[/?#]/.test(hostPort)) throw bad("no path, query or fragment is allowed after the port");

  let host: string;
  let portText: string | undefined;
  if (hostPort.startsWith("[")) {
    const close = hostPort.indexOf("]");
    if (close < 0) throw bad("an IPv6 address needs a closing ]");
    host = hostPort.slice(1, close);
    if (!isIPv6(host) || host.includes("%")) throw bad(`"${host}" is not a valid IPv6 address`);
    const after = hostPort.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) throw bad("expected :port after the IPv6 address");
    portText = after === "" ? undefined : after.slice(1);
  } else {
    if ((hostPort.match(/:/g) ?? []).length > 1) throw bad("write an IPv6 address in brackets, e.g. ssh://root@[2001:db8::1]:22");
    const colon = hostPort.indexOf(":");
    host = colon < 0 ? hostPort : hostPort.slice(0, colon);
    portText = colon < 0 ? undefined : hostPort.slice(colon + 1);
    if (host === "") throw bad("the host is missing");
    if (!validHost(host)) throw bad(`"${host}" is not a valid hostname or IPv4 address`);
  }

  let port = 22;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw bad(`"${portText}" is not a port number`);
    port = Number(portText);
    if (port < 1 || port > 65535) throw bad(`port ${port} is outside 1-65535`);
  }
  const hostForUrl = host.includes(":") ? `[${host}]` : host;
  return {
    user,
    host,
    port,
    destination: `${user}@${host}`,
    knownHostsName: port === 22 ? host : `[${host}]:${port}`,
    url: `ssh://${user}@${hostForUrl}:${port}`,
  };
}

function validHost(host: string): boolean {
  const v4 = IPV4.exec(host);
  if (v4) return v4.slice(1).every((o) => Number(o) <= 255 && (o === "0" || !o.startsWith("0")));
  // All-numeric names like "1.2.3" or "999.1.1.1" are mistyped addresses, not hostnames.
  if (/^[\d.]+$/.test(host)) return false;
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  return name.length > 0 && name.length <= 253 && name.split(".").every((l) => LABEL.test(l));
}
