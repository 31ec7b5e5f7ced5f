/**
 * Backups for destructive steps (issue 4, SPEC R-MIG-4): builders whose `up`
 * drops a table or column and keeps it aside, and whose `down` restores the
 * data, not just the structure. See docs/migration-backups.md.
 */
export { backupSchemaName } from './backup-names.js';
export { cleanupBackups, type CleanupBackupsOptions } from './cleanup-backups.js';
export { dropColumnWithBackup, type ColumnDefinition, type DropColumnWithBackupOptions } from './drop-column-with-backup.js';
export { dropTableWithBackup, type DropTableWithBackupOptions, type ReferencingForeignKey } from './drop-table-with-backup.js';
export type { ReversibleChange } from './reversible-change.js';
