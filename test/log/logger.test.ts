import { describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { createLogger } from "../../src/log/logger.ts";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { log: createLogger({ level: "info", destination: destination as never }), text: () => lines.join("") };
}

describe("logger", () => {
  it("writes JSON and redacts tokens and secrets wherever they appear", () => {
    const { log, text } = capture();
    log.info({ chat: { botToken: "xoxb-111-222-abc", appToken: "xapp-1-A1-999", signingSecret: "s3cr3t" } }, "starting");
    log.info({ headers: { authorization: "Bearer xoxb-9" } }, "call");
    log.warn("token in text xoxb-123-456-secretvalue leaked?");
    log.error({ err: new Error("auth failed for xapp-1-XYZ-777") }, "failed");
    const out = text();
    for (const secret of ["xoxb-111", "xapp-1-A1", "s3cr3t", "Bearer", "secretvalue", "XYZ-777"]) expect(out).not.toContain(secret);
    expect(out.match(/\[Redacted\]/g)!.length).toBeGreaterThanOrEqual(6);
    const first = JSON.parse(out.split("\n")[0]!);
    expect(first).toMatchObject({ level: 30, msg: "starting" });
  });

  it("scrubs an age secret key from messages and errors (X25519 and post-quantum shapes)", () => {
    const { log, text } = capture();
    const x25519 = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS4UG6C3";
    log.warn(`identity file says ${x25519}`);
    log.error({ err: new Error(`bad key AGE-SECRET-KEY-PQ-1ABCDEF${x25519.slice(16)}`) }, "failed");
    const out = text();
    expect(out).not.toContain("SECRET-KEY-1QYQ");
    expect(out).not.toContain("ABCDEF");
    expect(out.match(/\[Redacted\]/g)!.length).toBeGreaterThanOrEqual(2); // the message, the error (and its stack)
  });
});
