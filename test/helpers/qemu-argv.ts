// The QEMU the tests and the qemu bench run (DESIGN.md §5): no guest OS, one qcow2 disk as node disk0, QMP on
// a unix socket. Free of vitest, so bench code can import it too.
export function qemuVmArgv(image: string, socket: string): string[] {
  return [
    "-machine", "pc,accel=kvm:tcg", "-nodefaults", "-display", "none", "-m", "64",
    "-drive", `if=none,id=drive0,node-name=disk0,file=${image},format=qcow2`,
    "-device", "virtio-blk-pci,drive=drive0,id=vd0",
    "-qmp", `unix:${socket},server=on,wait=off`,
  ];
}
