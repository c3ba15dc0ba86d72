import type { KeyGroup } from "./shared-keys.ts";

// What hostkeys scan found, as its reply shows it (src/replies/host-key-replies.ts).
export interface ScanReport {
  scanned: string[];
  skipped: Array<{ server: string; why: string }>;
  /** Keys on more than one machine, with the server of each clone to regenerate. */
  shared: KeyGroup[];
  /** Servers registered more than once (the same endpoint): nothing to regenerate. */
  sameMachine: string[][];
}
