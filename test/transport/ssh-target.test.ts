import { describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.ts";
import { parseSshTarget } from "../../src/transport/ssh-target.ts";

describe("parseSshTarget", () => {
  it("parses user, host and port", () => {
    expect(parseSshTarget("ssh://backup@files-1.example.com:2222")).toEqual({
      user: "backup",
      host: "files-1.example.com",
      port: 2222,
      destination: "backup@files-1.example.com",
      knownHostsName: "[files-1.example.com]:2222",
      url: "ssh://backup@files-1.example.com:2222",
    });
  });

  it("defaults the port to 22, filed under the bare host in known_hosts", () => {
    const t = parseSshTarget("ssh://root@10.0.0.5");
    expect(t.port).toBe(22);
    expect(t.knownHostsName).toBe("10.0.0.5");
    expect(t.url).toBe("ssh://root@10.0.0.5:22");
  });

  it("takes IPv6 in brackets", () => {
    const t = parseSshTarget("ssh://root@[2001:db8::1]:2200");
    expect(t.host).toBe("2001:db8::1");
    expect(t.destination).toBe("root@2001:db8::1");
    expect(t.knownHostsName).toBe("[2001:db8::1]:2200");
    expect(parseSshTarget("ssh://root@[::1]").port).toBe(22);
  });

  it.each([
    ["root@host:22", /must start with ssh:\/\//],
    ["http://root@host", /must start with ssh:\/\//],
    ["ssh://host:22", /user is required/],
    ["ssh://@host", /not a valid user name/],
    ["ssh://root:secret@host", /passwords are not accepted/],
    ["ssh://-oProxyCommand=x@host", /not a valid user name/],
    ["ssh://root@-oProxyCommand=x", /not a valid hostname/],
    ["ssh://root@", /host is missing/],
    ["ssh://root@:22", /host is missing/],
    ["ssh://root@host:0", /outside 1-65535/],
    ["ssh://root@host:65536", /outside 1-65535/],
    ["ssh://root@host:22x", /not a port number/],
    ["ssh://root@host:", /not a port number/],
    ["ssh://root@host:22/path", /no path/],
    ["ssh://root@host?x=1", /no path/],
    ["ssh://root@ho st", /not a valid hostname/],
    ["ssh://root@host_1", /not a valid hostname/],
    ["ssh://root@256.1.1.1", /not a valid hostname or IPv4/],
    ["ssh://root@1.2.3", /not a valid hostname or IPv4/],
    ["ssh://root@2001:db8::1", /in brackets/],
    ["ssh://root@[2001:db8::1", /closing \]/],
    ["ssh://root@[not-v6]:22", /not a valid IPv6/],
    ["ssh://root@[::1]22", /expected :port/],
  ])("rejects %s", (text, why) => {
    let err: unknown;
    try {
      parseSshTarget(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).code).toBe("invalid_ssh_target");
    expect((err as UserError).message).toMatch(why);
    expect((err as UserError).message).toContain("ssh://user@host:port");
  });
});
