import { BackendError, UserError } from "../../errors.ts";
import type { Runner } from "../../transport/runner.ts";
import type { DriverContext } from "../driver.ts";
import { checkProblems, parseDiskList, parseSnapshotList, vmStateSizes, type DomainDisk } from "./libvirt-output.ts";
import type { QemuBackend, QemuCheck, QemuSnapshot } from "./qemu-backend.ts";
import { createVirshClient, type VirshCall } from "./virsh-client.ts";

// `driver: qemu` with `domain:` (DESIGN.md §3): a libvirt domain, running or shut off, through virsh. libvirt
// keeps the tree itself (each snapshot's parent, the current one), so list reports its metadata as the truth
// the ledger is reconciled with. Deliberately never `snapshot-delete --children`: libvirt 9.0 segfaults on it
// for deeper trees; a subtree is removed leaves first by the engine, one `remove` at a time.
//
// VM state: libvirt's internal snapshot of a running domain always includes memory (it has no internal
// disk-only snapshot of a running domain), so `stateful` changes nothing here. Its size is not in libvirt's
// metadata; it is the vm-state-size qemu-img reports for the tag in the domain's first disk (where QEMU
// writes it). A snapshot without that tag there (external, or another disk layout) reports 0: unknown and
// none look the same, which only affects the size `show` prints, never what is restored.

export interface LibvirtSettings {
  domain: string;
  connect: string;
}

// qemu-img exits 2 for corruptions and 3 for leaked clusters, and still prints its JSON report on stdout.
const CHECK_REPORTED = new Set([2, 3]);

export function createLibvirtBackend(settings: LibvirtSettings, runner: Runner): QemuBackend {
  const { domain, connect } = settings;
  const virsh = createVirshClient(connect, runner);
  const call = (what: string, ctx: DriverContext): VirshCall => ({ what, signal: ctx.signal });
  const dom = ["--domain", domain];

  async function firstDisk(ctx: DriverContext): Promise<DomainDisk & { source: string }> {
    const out = await virsh.run(["domblklist", ...dom, "--details"], call(`disks of domain ${domain}`, ctx));
    const disk = parseDiskList(out).find((d) => d.device === "disk");
    if (!disk?.source)
      throw new UserError("qemu_no_disk", `domain ${domain} on ${connect} has no disk with a source: give it a qcow2 disk`);
    if (disk.type !== "file" && disk.type !== "block") {
      const why = `is a ${disk.type} disk: check and export read file or block disks only`;
      throw new UserError("qemu_disk_type", `domain ${domain}'s first disk (${disk.target}) ${why}`);
    }
    return disk as DomainDisk & { source: string };
  }

  // Sizes are for `show`: a disk qemu-img cannot read (not installed on the host, permissions) costs the
  // sizes, not the list the ledger is reconciled from.
  async function stateSizes(ctx: DriverContext): Promise<Map<string, number>> {
    try {
      const disk = await firstDisk(ctx);
      const r = await runner.run("qemu-img", ["info", "-U", "--output=json", disk.source], { signal: ctx.signal });
      return vmStateSizes(r.stdout);
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      ctx.log.warn({ err: String(e), domain }, "libvirt: VM-state sizes unknown (qemu-img info failed)");
      return new Map();
    }
  }

  async function currentName(ctx: DriverContext): Promise<string | null> {
    try {
      return (await virsh.run(["snapshot-current", ...dom, "--name"], call(`current snapshot of domain ${domain}`, ctx))).trim() || null;
    } catch (e) {
      // "domain 'web' has no current snapshot": a domain without snapshots, or whose current one was deleted.
      if (e instanceof BackendError && /has no current snapshot/i.test(e.message)) return null;
      throw e;
    }
  }

  async function list(ctx: DriverContext): Promise<QemuSnapshot[]> {
    const out = await virsh.run(["snapshot-list", ...dom, "--parent"], call(`snapshot list of domain ${domain}`, ctx));
    const rows = parseSnapshotList(out);
    if (rows.length === 0) return [];
    const current = await currentName(ctx);
    const sizes = await stateSizes(ctx);
    return rows.map((r) => ({
      name: r.name,
      createdAt: r.createdAt,
      vmStateSize: sizes.get(r.name) ?? 0,
      parent: r.parent,
      current: r.name === current,
    }));
  }

  async function names(ctx: DriverContext): Promise<string[]> {
    const out = await virsh.run(["snapshot-list", ...dom, "--name"], call(`snapshot list of domain ${domain}`, ctx));
    return out.split("\n").map((l) => l.trim()).filter(Boolean);
  }

  const exists = (name: string) =>
    new UserError(
      "snapshot_exists",
      `domain ${domain} already has a snapshot named ${name}: choose another name, or delete that one first`,
    );

  return {
    describe: `domain ${domain} (${connect})`,

    async probe(ctx) {
      try {
        await virsh.run(["dominfo", ...dom], call(`domain ${domain}`, ctx));
      } catch (e) {
        if (e instanceof BackendError && e.code === "domain_missing")
          throw new UserError("qemu_domain_missing", `no libvirt domain ${domain} on ${connect}: check domain: and connect:`);
        throw e; // libvirtd unreachable, a hung virsh: "could not check", in libvirt's words
      }
    },

    list,

    async create(name, _stateful, ctx) {
      if ((await names(ctx)).includes(name)) throw exists(name);
      try {
        // --atomic: libvirt either makes the whole snapshot or leaves the domain and its metadata as they were.
        await virsh.run(["snapshot-create-as", ...dom, "--name", name, "--atomic"], call(`snapshot ${name} of domain ${domain}`, ctx));
      } catch (e) {
        if (e instanceof BackendError && e.code === "already_exists") throw exists(name); // made meanwhile by someone else
        throw e;
      }
      const made = (await list(ctx)).find((s) => s.name === name);
      const lost = `snapshot ${name} of domain ${domain}: virsh said it was made, but snapshot-list does not show it`;
      if (!made) throw new BackendError("snapshot_missing", lost);
      return made;
    },

    async apply(name, ctx) {
      // QEMU restarts (~2 s); the domain ends up as it was when the snapshot was taken (running or shut off).
      await virsh.run(["snapshot-revert", ...dom, "--snapshotname", name], call(`revert of domain ${domain} to ${name}`, ctx));
    },

    async remove(name, ctx) {
      // libvirt merges the snapshot into its children and re-parents them to its parent: that is its semantics.
      await virsh.run(["snapshot-delete", ...dom, "--snapshotname", name], call(`delete of snapshot ${name} of domain ${domain}`, ctx));
    },

    async check(ctx) {
      const file = (await firstDisk(ctx)).source;
      return qemuImgCheck(runner, file, ctx);
    },

    async imageFile(ctx) {
      return (await firstDisk(ctx)).source;
    },
  };
}

/** `qemu-img check -U` (shared: the domain may be running): a report of corruptions is a result, not a failure. */
async function qemuImgCheck(runner: Runner, file: string, ctx: DriverContext): Promise<QemuCheck> {
  let report: string;
  try {
    report = (await runner.run("qemu-img", ["check", "-U", "--output=json", file], { signal: ctx.signal })).stdout;
  } catch (e) {
    const exec = e instanceof BackendError ? (e.cause as { exitCode?: unknown; stdout?: unknown } | undefined) : undefined;
    if (!exec || !CHECK_REPORTED.has(exec.exitCode as number) || typeof exec.stdout !== "string") throw e;
    report = exec.stdout;
  }
  const problems = checkProblems(report, file);
  return { ok: problems.length === 0, problems };
}
