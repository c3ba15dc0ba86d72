import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/load-config.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// storage.targets.<t>.keep is checked with the parser the target's retention uses, when the file is loaded: a
// typo stops start-up naming the key, instead of failing at the first prune.

const root = tempDir("snapbot-target-keep-");
let n = 0;
function load(yaml: string) {
  const file = join(root, `c${++n}.yml`);
  writeFileSync(file, yaml);
  return () => loadConfig({ SNAPBOT_CONFIG: file }, root);
}

describe("a target's keep", () => {
  it("accepts restic's rules and refuses a typo or a policy that keeps nothing, naming the key", () => {
    expect(load(`storage: { targets: { offsite: { path: ./o, keep: "daily=30,monthly=12" } } }`)().storage.targets.offsite?.keep).toBe("daily=30,monthly=12");
    const typo = load(`storage: { targets: { offsite: { path: ./o, keep: "dayly=30" } } }`);
    expect(typo).toThrow(ConfigError);
    expect(typo).toThrow(/storage\.targets\.offsite\.keep: unknown key "dayly"; expected last=N,hourly=N/);
    expect(load(`storage: { targets: { offsite: { path: ./o, keep: "daily=0" } } }`)).toThrow(/storage\.targets\.offsite\.keep: .*keeps nothing/);
  });

  it("copies: is a list of target names in every driver's settings", () => {
    expect(load(`servers: { f: { driver: archive, paths: [/tmp], copies: "offsite" } }`)).toThrow(/servers\.f\.copies/);
    expect(load(`servers: { f: { driver: archive, paths: [/tmp], copies: ["../x"] } }`)).toThrow(/servers\.f\.copies\.0: .*a storage target's name, like offsite/);
    expect(load(`storage: { targets: { offsite: { path: ./o } } }\nservers: { f: { driver: archive, paths: [/tmp], copies: [offsite] } }`)().servers.f).toMatchObject({ copies: ["offsite"] });
  });
});
