import { describe, expect, it } from "vitest";
import { consulSettingsSchema } from "../../../src/drivers/consul/consul-settings.ts";
import { consulDriver } from "../../../src/drivers/consul/consul-module.ts";

// driver: consul's settings: the defaults (stale never, sensitive by the driver's feature) and a line for each
// bad value that says what to write instead.

const parse = (s: Record<string, unknown>) => consulSettingsSchema.safeParse({ driver: "consul", address: "http://127.0.0.1:8500", ...s });
const problem = (s: Record<string, unknown>) => {
  const r = parse(s);
  return r.success ? "" : `${r.error.issues[0]!.path.join(".")}: ${r.error.issues[0]!.message}`;
};

describe("consul settings", () => {
  it("defaults stale to never, and the driver is sensitive and restores with --force", () => {
    const r = parse({ token_env: "CONSUL_HTTP_TOKEN", datacenter: "dc1" });
    expect(r.success && r.data).toMatchObject({ stale: "never", request_timeout: "1M", datacenter: "dc1" });
    expect(consulDriver.features).toMatchObject({ sensitive: true, restoreForce: true });
    expect(consulDriver.describe!(r.success ? r.data : (undefined as never))).toBe("http://127.0.0.1:8500 dc dc1");
  });

  it("refuses each bad value with what to write instead", () => {
    expect(problem({ stale: "sometimes" })).toMatch(/^stale: never, auto \(a stale snapshot only when there is no leader\) or always/);
    expect(problem({ address: "http://127.0.0.1:8500/v1/snapshot" })).toMatch(/^address: .*without a path/);
    expect(problem({ address: "consul:8500" })).toMatch(/^address: /);
    expect(problem({ token_env: "$(rm -rf /)" })).toMatch(/^token_env: an environment variable's name/);
    expect(problem({ datacenter: "dc 1" })).toMatch(/^datacenter: a datacenter's name/);
    expect(problem({ request_timeout: "forever" })).toMatch(/^request_timeout: expected a duration/);
    expect(problem({ token: "s3cr3t" })).toMatch(/token/); // a token in the file is refused: token_env only
  });
});
