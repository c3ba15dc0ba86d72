import { driverContract } from "./driver-contract.ts";
import { fakeBackend, fakeDriverModule } from "../helpers/fake-driver.ts";

// The contract against the in-memory fake: the cases themselves, with no backend in the way.
const backend = fakeBackend();
const marker = `snapbot-fake-hang-${process.pid}`;

driverContract({
  kind: "fake",
  title: "fake (in-memory)",
  setup: () => undefined,
  drivers: () => [fakeDriverModule(backend)],
  server: () => ({ name: "mem-1", config: { driver: "fake" } }),
  content: {
    write: (v) => void backend.data.set("mem-1", v),
    read: () => backend.data.get("mem-1") ?? "",
  },
  failing: {
    arm: () => void (backend.fail = "the fake backend is switched to fail"),
    disarm: () => void (backend.fail = null),
  },
  hanging: {
    server: (timeout) => ({ name: "mem-hung", config: { driver: "fake", timeout } }),
    marker: () => marker,
    arm: () => void (backend.hang = marker),
    disarm: () => void (backend.hang = null),
  },
  lacks: ["export", "copy", "clone", "stateful"],
});
