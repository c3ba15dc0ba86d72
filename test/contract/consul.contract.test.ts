import { driverContract } from "./driver-contract.ts";
import { startConsulServer, type ConsulServer } from "../helpers/consul-server.ts";

// The contract against driver: consul — the local Consul server (test/helpers/consul-server.ts) speaking the
// documented HTTP API with real archives. Content is state.bin: a value restored by PUT /v1/snapshot reads back.
// A failing create is a server that sends an archive with an extra file; a hang is the slow mode (headers and
// 1 KiB, then nothing), inside snapbot's own process: the open snapshot responses are counted, none afterwards.

const TOKEN = "contract-mgmt-token";
let main: ConsulServer | undefined;
let bad: ConsulServer | undefined;
let slow: ConsulServer | undefined;
const consul = (url: string, over: Record<string, unknown> = {}) => ({ driver: "consul", address: url, token_env: "CONSUL_TOKEN", sensitive: false, ...over });

driverContract({
  kind: "consul",
  title: "consul (local Consul HTTP API)",
  async setup() {
    [main, bad, slow] = await Promise.all([0, 1, 2].map(() => startConsulServer({ token: TOKEN, stateSize: 50_000 })));
    bad!.mode = "extra-file";
    slow!.mode = "slow";
  },
  teardown: async () => {
    await Promise.all([main?.close(), bad?.close(), slow?.close()]);
  },
  env: () => ({ CONSUL_TOKEN: TOKEN }),
  server: () => ({ name: "consul-dc1", config: consul(main!.url) }),
  content: {
    write: (v) => {
      main!.restored = Buffer.from(`${v}\n`);
    },
    read: () => (main!.restored ?? Buffer.from("the generated state")).toString().trim(),
  },
  failing: { server: () => ({ name: "consul-bad", config: consul(bad!.url) }) },
  hanging: {
    server: (timeout) => ({ name: "consul-hung", config: consul(slow!.url, { timeout }) }),
    marker: () => slow!.url,
    connections: () => slow!.streaming(),
  },
  lacks: ["export", "copy", "clone", "stateful"],
});
