/**
 * Invariants declared per migration (issue 4, "Verify"): built with the
 * helpers below, checked by the migrator after `up`, reported, and undone
 * when broken. See docs/migrations.md, "Invariants".
 */
export { check, noOrphans, notNull, rowCountPreserved, tableChecksum } from './invariant-builders.js';
export type {
  CheckInvariant,
  Invariant,
  InvariantOutcome,
  NoOrphansInvariant,
  NotNullInvariant,
  RowCountPreservedInvariant,
  TableChecksumInvariant,
} from './invariant.js';
export type { InvariantRollback } from './invariant-failure.js';
