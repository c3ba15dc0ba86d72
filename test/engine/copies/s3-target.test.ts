import { copyCases } from "./copy-cases.ts";
import { copyFaultCases } from "./copy-fault-cases.ts";
import { s3CopyTarget } from "../../helpers/s3-copy-target.ts";

// The same copy cases as folder-target.test.ts against an S3 target on Ceph's RADOS Gateway (real S3 semantics).
copyCases(s3CopyTarget());
copyFaultCases(s3CopyTarget());
