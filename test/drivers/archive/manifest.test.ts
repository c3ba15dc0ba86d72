import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";

describe("manifest.yml", () => {
  const m = parse(readFileSync(resolve(import.meta.dirname, "../../../manifest.yml"), "utf8"));
  it("declares /snapshot, interactivity, Socket Mode and the bot scopes snapbot uses", () => {
    expect(m.features.slash_commands).toEqual([expect.objectContaining({ command: "/snapshot", should_escape: false })]);
    expect(m.features.slash_commands[0].usage_hint.length).toBeLessThanOrEqual(1000);
    expect(m.features.slash_commands[0].description.length).toBeLessThanOrEqual(2000);
    expect(m.oauth_config.scopes.bot).toEqual(expect.arrayContaining(["commands", "chat:write", "chat:write.public"]));
    expect(m.settings).toMatchObject({ interactivity: { is_enabled: true }, socket_mode_enabled: true });
    expect(m.display_information.name).toBe("snapbot");
  });
});
