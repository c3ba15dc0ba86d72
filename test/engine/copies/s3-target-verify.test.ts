import { s3CopyTarget } from "../../helpers/s3-copy-target.ts";
import { targetRoundCases } from "./target-round-cases.ts";
import { targetVerifyCases } from "./target-verify-cases.ts";

// verify --target and its scheduled rounds against an S3 target on Ceph's RADOS Gateway: the same cases as the folder's.
targetVerifyCases(s3CopyTarget());
targetRoundCases(s3CopyTarget());
