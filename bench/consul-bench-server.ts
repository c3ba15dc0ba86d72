import { startConsulServer } from "../test/helpers/consul-server.ts";

// The Consul side of the consul bench, in its own process so that serving the archive does not share snapbot's
// event loop: serves argv[2] (an archive file) as GET /v1/snapshot, prints its URL, and ends with its stdin.
const server = await startConsulServer({ archiveFile: process.argv[2], token: "bench-token" });
process.stdout.write(`${server.url}\n`);
process.stdin.resume();
process.stdin.on("end", () => void server.close().then(() => process.exit(0)));
