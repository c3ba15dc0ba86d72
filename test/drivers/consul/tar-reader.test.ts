import { describe, expect, it } from "vitest";
import { createTarReader } from "../../../src/drivers/consul/tar-reader.ts";
import { tarHeader } from "../../helpers/consul-archive.ts";

// The minimal tar reader on what Go's archive/tar may write beyond plain USTAR (a PAX header, a base-256
// size for members over 8 GiB) and on what it must refuse (a bad checksum, a link, bytes after the end).

const now = new Date("2026-01-01T00:00:00Z");
const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
const member = (name: string, body: Buffer) => Buffer.concat([tarHeader(name, body.length, now), body, pad(body.length)]);
const END = Buffer.alloc(1024);

function read(tar: Buffer, chunk = 100) {
  const seen: Array<{ name: string; size: number; body: Buffer[] }> = [];
  const r = createTarReader({
    entry: (name, size) => void seen.push({ name, size, body: [] }),
    data: (c) => void seen.at(-1)!.body.push(Buffer.from(c)),
    end: () => {},
  });
  for (let at = 0; at < tar.length; at += chunk) r.write(tar.subarray(at, at + chunk));
  r.finish();
  return seen.map((s) => ({ name: s.name, size: s.size, body: Buffer.concat(s.body).toString() }));
}

/** A header with its checksum recomputed after `edit`. */
function edited(name: string, size: number, edit: (h: Buffer) => void): Buffer {
  const h = tarHeader(name, size, now);
  edit(h);
  h.write("        ", 148, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

describe("the tar reader", () => {
  it("reads members in any chunking, each body whole", () => {
    const tar = Buffer.concat([member("meta.json", Buffer.from('{"a":1}\n')), member("state.bin", Buffer.alloc(1300, 65)), END]);
    for (const chunk of [1, 7, 512, 4096])
      expect(read(tar, chunk)).toEqual([{ name: "meta.json", size: 8, body: '{"a":1}\n' }, { name: "state.bin", size: 1300, body: "A".repeat(1300) }]);
  });

  it("applies a PAX header's path and size to the next member, and reads a base-256 size", () => {
    const records = Buffer.from("17 path=long.bin\n");
    const pax = Buffer.concat([edited("PaxHeaders/x", records.length, (h) => h.write("x", 156, "ascii")), records, pad(records.length)]);
    const body = Buffer.from("hello");
    const b256 = edited("state.bin", 0, (h) => {
      h.fill(0, 124, 136);
      h[124] = 0x80;
      h[135] = body.length;
    });
    const tar = Buffer.concat([pax, member("ignored-name", body), b256, body, pad(body.length), END]);
    expect(read(tar)).toEqual([{ name: "long.bin", size: 5, body: "hello" }, { name: "state.bin", size: 5, body: "hello" }]);
  });

  it("refuses a bad checksum, a symlink, an archive without its end, and bytes after the end", () => {
    const bad = tarHeader("meta.json", 0, now);
    bad[0] = "n".charCodeAt(0);
    expect(() => read(Buffer.concat([bad, END]))).toThrow(/bad checksum/);
    expect(() => read(Buffer.concat([edited("link", 0, (h) => h.write("2", 156, "ascii")), END]))).toThrow(/unexpected tar member "link" \(type "2"\)/);
    expect(() => read(member("a", Buffer.from("x")))).toThrow(/no end/);
    expect(() => read(Buffer.concat([member("a", Buffer.from("xyz")), Buffer.alloc(300)]))).toThrow(/ends inside|no end/);
    expect(() => read(Buffer.concat([member("a", Buffer.from("x")), END, Buffer.from("tail")]))).toThrow(/after the end/);
  });
});
