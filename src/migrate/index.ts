/**
 * chatkeep/migrate: the general-purpose migration engine, usable for a host
 * application's own migrations as well as chatkeep's. See docs/migrations.md.
 */
export { Migrator } from './migrator.js';
export type { AllowLintErrors, MigratorOptions } from './migrator-options.js';
export type { Migration, MigrationContext } from './migration.js';
export type { MigrationDirection } from './render-migration.js';
export type { MigrationEvent, MigrationEventListener } from './migration-event.js';
export type { MigrationResult, MigrationResultSet } from './migration-result.js';
export type { AppliedMigration, PendingMigration, MigrationStatus } from './migration-status.js';
export type { PlannedMigration, PlanOptions } from './planned-migration.js';
export type { MigrationLogEntry } from './migration-log-entry.js';
export { checksumOf } from './checksum.js';
export { fingerprint, type SchemaFingerprint } from './fingerprint.js';
export { defaultLockKey } from './lock-key.js';
export { DEFAULT_LOCK_TIMEOUT, DEFAULT_STATEMENT_TIMEOUT } from './run-step.js';
export {
  backfill,
  concurrentIndex,
  nonTransactional,
  verify,
  type BackfillStep,
  type ConcurrentIndexStep,
  type MigrationStatement,
  type MigrationStepSpec,
  type NonTransactionalStep,
  type VerifyStep,
} from './steps.js';
export type { InFlightMigration } from './step-journal.js';
export { check, noOrphans, notNull, rowCountPreserved, tableChecksum } from './invariants/index.js';
export type {
  CheckInvariant,
  Invariant,
  InvariantOutcome,
  InvariantRollback,
  NoOrphansInvariant,
  NotNullInvariant,
  RowCountPreservedInvariant,
  TableChecksumInvariant,
} from './invariants/index.js';
export type { MigrationLint } from './live-lint.js';
export { lintMigration, lintStatements, runnerSettingsOf, RULE_IDS } from './lint/index.js';
export type { LintFinding, LintReport, LintSeverity, SuppressedFinding, LintOptions, RunnerSettings } from './lint/index.js';
export { backupSchemaName, cleanupBackups, dropColumnWithBackup, dropTableWithBackup } from './backups/index.js';
export type {
  CleanupBackupsOptions,
  ColumnDefinition,
  DropColumnWithBackupOptions,
  DropTableWithBackupOptions,
  ReferencingForeignKey,
  ReversibleChange,
} from './backups/index.js';
export { expandColumn, type ContractOptions, type ExpandContract, type ExpandContractStatements, type MigrationTuning } from './expand-contract/index.js';
export type { ColumnConversion, ColumnShape, ExpandColumnSpec } from './expand-contract/index.js';
export { rehearse, pgliteClone, postgresDumpCopy, postgresScratch, blocksWrites, blocksReads, LOCK_MODES, DEFAULT_MAX_LOCK_MS, DEFAULT_SAMPLE_INTERVAL_MS, REHEARSAL_DATABASE_PREFIX } from './rehearse/index.js';
export type { RehearseOptions, RehearsalReport, RehearsedMigration, RehearsedStep, HeldLock, RehearsalCopy, OpenedCopy, OpenCopyOptions, LockMode } from './rehearse/index.js';
