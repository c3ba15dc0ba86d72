import { copyCases } from "./copy-cases.ts";
import { copyFaultCases } from "./copy-fault-cases.ts";
import { folderTarget } from "../../helpers/copy-targets.ts";

// The copy cases against a folder target (a mounted share in production): storage.targets.<t>.path.
copyCases(folderTarget());
copyFaultCases(folderTarget());
