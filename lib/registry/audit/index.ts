/**
 * The audit trail: a tamper-evident, per-model hash chain of immutable JSON records (decisions,
 * refusals, alias moves) in S3. MLflow keeps no history of its aliases; this does, and rollback
 * lineage is read only from a chain that verifies.
 *
 * - Records live at `audit/<model>/<seq, 12 digits>.json`, seq 1, 2, 3, … Each is created with
 *   `If-None-Match: *` (never overwritten) and carries `prevHash`, the SHA-256 of the previous
 *   record's stored bytes (GENESIS_HASH for seq 1).
 * - The head `{seq, hash}` is anchored outside the bucket, on the registered model's MLflow tag
 *   `mlo.audit_head`, so deleting the newest records is as detectable as editing an old one.
 * - AuditTrail.append is the one writer (idempotent per key, retries lost races);
 *   verifyAudit / AuditTrail.verify report every problem; verifiedChampionHistory refuses to
 *   give lineage from a trail that fails verification.
 * - Records at other keys (the legacy `audit/<model>/<time>-<action>-<hash>.json`) are listed as
 *   `unchained` and never used for lineage.
 *
 * Modules: record.ts (record, keys, stored bytes), verify.ts (pure verification), anchor.ts (the
 * anchor and its MLflow implementation), trail.ts (S3 I/O: the writer, verification, lineage).
 */
export {
  AUDIT_FORMAT,
  auditPrefix,
  decodeRecord,
  encodeRecord,
  GENESIS_HASH,
  hashBytes,
  isAuditModelName,
  parseSeqKey,
  seqKey,
  type AuditAction,
  type AuditHead,
  type AuditIdentity,
  type AuditRequester,
  type AuditRecord,
  type ChainedAuditRecord,
} from './record';
export {
  checkChain,
  describeProblems,
  isFailure,
  type AnchorState,
  type AuditProblem,
  type AuditProblemKind,
  type AuditReport,
  type ChainCheck,
  type ChainEntry,
  type ChainLink,
} from './verify';
export { formatAnchor, MlflowAuditAnchor, parseAnchor, type AuditAnchor } from './anchor';
export {
  appendAudit,
  AuditIntegrityError,
  AuditTrail,
  championHistory,
  isLostRace,
  readAudit,
  verifiedChampionHistory,
  verifyAudit,
  type AppendResult,
  type AuditTrailOptions,
} from './trail';
