import { lookup } from "node:dns/promises";

// What tells two SSH servers apart is where they are reached, not what they are called: ssh://root@127.0.0.1:22
// and ssh://root@localhost:22 are one machine. A server's endpoints are `address:port` for every address its
// host name resolves to (plus the name itself, so two servers under one name match even when DNS is down).
// Servers with an endpoint in common are one machine, so the same host key on both is no clone.

const LOOKUP_MS = 3000;

export async function sshEndpoints(host: string, port: number): Promise<string[]> {
  const name = `${host.toLowerCase().replace(/\.$/, "")}:${port}`;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("dns lookup timed out")), LOOKUP_MS)));
  try {
    const addresses = await Promise.race([lookup(host, { all: true }), timeout]);
    return [name, ...addresses.map((a) => `${a.address.replace(/^::ffff:(?=\d+\.)/i, "")}:${port}`)];
  } catch {
    return [name]; // unresolvable now: the name alone still matches another server using the same name
  } finally {
    clearTimeout(timer);
  }
}
