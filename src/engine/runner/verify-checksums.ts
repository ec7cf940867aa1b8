import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionScript } from "../script/revision-script.js";

export interface ChecksumMismatch {
  readonly revision: string;
  readonly path: string;
  /** The checksum recorded when the revision was applied. */
  readonly applied: string;
  /** The checksum of the file now. */
  readonly current: string;
}

/**
 * Compares every applied revision's file with the checksum recorded when it was applied (Flyway's
 * validate). Revisions without a record (stamped, or applied by Alembic before adoption) pass.
 */
export function findChecksumMismatches(
  appliedRevisions: readonly string[],
  recorded: ReadonlyMap<string, string>,
  scriptOf: (id: string) => RevisionScript,
): ChecksumMismatch[] {
  const mismatches: ChecksumMismatch[] = [];
  for (const id of appliedRevisions) {
    const applied = recorded.get(id);
    if (applied === undefined) continue;
    const script = scriptOf(id);
    if (script.checksum !== applied) {
      mismatches.push({ revision: id, path: script.path, applied, current: script.checksum });
    }
  }
  return mismatches;
}

export function checksumMismatchError(mismatches: readonly ChecksumMismatch[]): FleetwayError {
  const list = mismatches.map((m) => `${m.revision} (${m.path})`).join(", ");
  return new FleetwayError(
    ErrorCode.CHECKSUM_MISMATCH,
    `Applied revision files changed since they ran: ${list}. Restore them, or re-run with checksum ` +
      `mismatches allowed if the change is intended`,
    { mismatches },
  );
}
