import { describe, expect, it } from "vitest";
import { createChunkPool } from "../../src/storage/s3-part-sink.ts";

// The S3 store's chunk buffers: at most `max` exist, a take beyond waits for one to come back, and buffers are
// reused rather than reallocated (what keeps a 2 GiB upload's memory at a few chunks).
describe("chunk pool", () => {
  it("hands out at most max buffers, makes the next take wait for a give, and reuses what comes back", async () => {
    const pool = createChunkPool(1024, 2);
    const a = await pool.take();
    const b = await pool.take();
    expect([a.length, b.length]).toEqual([1024, 1024]);
    let third: Buffer | null = null;
    const waiting = pool.take().then((c) => (third = c));
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBeNull();
    pool.give(a);
    await waiting;
    expect(third).toBe(a);
    pool.give(b);
    expect(await pool.take()).toBe(b);
  });
});
