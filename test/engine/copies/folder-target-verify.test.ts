import { folderTarget } from "../../helpers/copy-targets.ts";
import { targetVerifyCases } from "./target-verify-cases.ts";
import { targetRoundCases } from "./target-round-cases.ts";

// verify --target and its schedule against a folder target (a mounted share in production): storage.targets.<t>.path.
targetVerifyCases(folderTarget());
targetRoundCases(folderTarget());
