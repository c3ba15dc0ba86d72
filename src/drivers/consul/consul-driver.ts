import type { DriverDeps, SnapshotDriver } from "../driver.ts";
import { timeoutMs } from "../../duration.ts";
import { createAtRest } from "../../storage/encryption/at-rest.ts";
import { STREAM_BUFFER } from "../../storage/kit/store-stream.ts";
import { storeFor, storedMethods } from "../shared/stored-methods.ts";
import { parsePartSize } from "../archive/part-size.ts";
import { createConsulClient, type ConsulClient } from "./consul-client.ts";
import { createConsul } from "./create-consul.ts";
import { consulDetails, manifestSchema } from "./consul-manifest.ts";
import { verifyConsulFull } from "./full-verify.ts";
import { describeConsulRestore, restoreConsul } from "./restore-consul.ts";
import type { ConsulSettings } from "./consul-settings.ts";

// The consul driver: Consul's own snapshot (GET /v1/snapshot, a gzip tar checked as Consul's CLI checks it)
// stored as parts + manifest through the stored-snapshot kit (src/storage/kit/), encrypted at rest by default
// (ACL tokens are inside), and put back with PUT /v1/snapshot. restore --to: this server's cluster receives
// another Consul server's snapshot (a new datacenter bootstrapped from it).

export type ConsulServer = ConsulSettings & { name: string };

export function createConsulDriver(settings: ConsulServer, deps: DriverDeps): SnapshotDriver {
  const store = storeFor(settings.store, deps);
  const atRest = createAtRest(deps.encryption);
  const client: ConsulClient = createConsulClient({
    address: settings.address,
    // Read when the driver is made (at start-up or register): a token rotated in the environment needs a restart.
    token: settings.token_env ? deps.env?.[settings.token_env] : undefined,
    datacenter: settings.datacenter,
    requestTimeoutMs: timeoutMs(settings.request_timeout),
    server: settings.name,
    tokenEnv: settings.token_env,
  });
  const target = { name: settings.name, address: settings.address, datacenter: settings.datacenter, stale: settings.stale, partSize: parsePartSize(undefined) };
  const dest = { name: settings.name, address: settings.address };
  return {
    kind: "consul",
    features: { sensitive: true, restoreForce: true, verifyFull: true },
    ...storedMethods({
      store,
      schema: manifestSchema,
      details: consulDetails,
      atRest,
      rebuild: (other) => createConsulDriver(settings, { ...deps, store: other }),
      full: (snap, hashed, ctx) => verifyConsulFull(store, snap, hashed, atRest, ctx),
    }),
    create: (req, ctx) => createConsul(target, client, store, req, ctx, async () => (deps.sensitive ? atRest.seal(settings.name, STREAM_BUFFER) : null)),
    async restore(snap, opts, ctx) {
      return { summary: await restoreConsul(store, snap, opts, dest, client, ctx, atRest) };
    },
    describeRestore: (snap, opts) => describeConsulRestore(store, snap, opts, dest, client, atRest),
    async probe(ctx) {
      await client.agentSelf(ctx.signal);
    },
  };
}
