import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { createStorageTargets } from "../../src/storage/storage-targets.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// storage.targets (DESIGN.md §3): each target is exactly one place, "local" is storage.path itself, a
// folder target is relative to the config file, and naming a target that is not there says which are.

const root = tempDir("snapbot-targets-");
let n = 0;
function loadYaml(yaml: string) {
  const file = join(root, `c${++n}.yml`);
  writeFileSync(file, yaml);
  return loadConfig({ SNAPBOT_CONFIG: file }, root);
}
function failure(yaml: string): string {
  try {
    loadYaml(yaml);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error("accepted");
}

describe("storage.targets", () => {
  it("reads folder and S3 targets with their own keep, folders relative to the config file", () => {
    const c = loadYaml(`storage:
  path: ./snaps
  targets:
    shared: { path: ./mnt/shared, keep: "daily=7" }
    offsite:
      s3: { endpoint: "http://127.0.0.1:40180", bucket: snapbot, prefix: prod/, access_key_env: S3_ACCESS_KEY, secret_key_env: S3_SECRET_KEY, force_path_style: true }
      keep: daily=30,monthly=12
`);
    expect(c.storage.targets.shared).toEqual({ path: join(root, "mnt/shared"), keep: "daily=7" });
    expect(c.storage.targets.offsite?.s3).toMatchObject({ bucket: "snapbot", prefix: "prod/", region: "us-east-1", force_path_style: true });
    expect(c.storage.targets.offsite?.keep).toBe("daily=30,monthly=12");
  });

  it("refuses a target that is both or neither, the reserved name local, and a bad bucket or prefix, naming the key", () => {
    expect(failure(`storage: { targets: { t: { path: /x, s3: { endpoint: "http://h", bucket: bkt, access_key_env: A, secret_key_env: B } } } }`)).toMatch(
      /storage\.targets\.t.*exactly one of s3: .* or path:/,
    );
    expect(failure(`storage: { targets: { t: { keep: daily=1 } } }`)).toMatch(/storage\.targets\.t.*exactly one of/);
    expect(failure(`storage: { targets: { local: { path: /x } } }`)).toMatch(/"local" is storage\.path itself/);
    expect(failure(`storage: { targets: { t: { s3: { endpoint: "http://h", bucket: Bad_Bucket, access_key_env: A, secret_key_env: B } } } }`)).toMatch(/bucket/);
    expect(failure(`storage: { targets: { t: { s3: { endpoint: "http://h", bucket: bkt, prefix: "prod", access_key_env: A, secret_key_env: B } } } }`)).toMatch(/prefix.*ending with \//);
    expect(failure(`storage: { targets: { t: { s3: { endpoint: "http://h", bucket: bkt, access_key_env: "my key", secret_key_env: B } } } }`)).toMatch(/environment variable/);
  });

  it("builds a folder target as a part store; an unknown target is one line naming the configured ones", () => {
    const c = loadYaml(`storage: { targets: { shared: { path: ./shared }, nas: { path: ./nas } } }`);
    const targets = createStorageTargets(c.storage, { fsync: false, env: {}, log: pino({ level: "silent" }) });
    expect(targets.names()).toEqual(["nas", "shared"]);
    expect(targets.need("shared")).toMatchObject({ name: "shared", kind: "local", keep: null });
    expect(targets.need("shared").store.where({ server: "web", name: "s1" })).toBe(join(root, "shared/web/s1"));
    expect(() => targets.need("offsite")).toThrow(/no storage target "offsite" \(targets: nas, shared\): add it under storage\.targets/);
    const none = createStorageTargets(loadYaml(`servers: {}`).storage, { fsync: false, env: {}, log: pino({ level: "silent" }) });
    expect(() => none.need("offsite")).toThrow(/no storage\.targets are configured/);
  });
});
