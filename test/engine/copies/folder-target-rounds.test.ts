import { folderTarget } from "../../helpers/copy-targets.ts";
import { targetRoundCases } from "./target-round-cases.ts";

// schedule --target (a whole target re-read in slices, one a run) against a folder target: storage.targets.<t>.path.
targetRoundCases(folderTarget());
