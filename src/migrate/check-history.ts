import { ChatkeepError } from '../errors/index.js';
import { checksumOf } from './checksum.js';
import type { Migration, MigrationContext } from './migration.js';
import type { AppliedMigration } from './migration-status.js';

/**
 * Compares the migrations on disk with the history in the database and
 * returns every mismatch, in version order. Nothing is ever skipped silently
 * (Drizzle skips a migration older than the last applied one; we refuse):
 *
 * - an applied version whose recorded checksum differs from the one on disk
 *   (the SQL was edited after it ran) → CK_MIGRATION_CHECKSUM;
 * - an applied version missing on disk, or present under another name
 *   (deleted or renamed) → CK_MIGRATION_HISTORY;
 * - a pending version lower than the highest applied one (merged out of
 *   order; applying it now would run it against a schema it was not written
 *   for) → CK_MIGRATION_HISTORY.
 */
export function checkHistory(
  migrations: readonly Migration[],
  applied: readonly AppliedMigration[],
  context: MigrationContext,
): ChatkeepError[] {
  const onDisk = new Map(migrations.map((m) => [m.version, m]));
  const appliedVersions = new Set(applied.map((a) => a.version));
  const highest = applied.reduce((max, a) => Math.max(max, a.version), 0);
  const problems: { version: number; error: ChatkeepError }[] = [];

  for (const row of applied) {
    const migration = onDisk.get(row.version);
    if (migration === undefined) {
      problems.push({
        version: row.version,
        error: new ChatkeepError(
          'CK_MIGRATION_HISTORY',
          `Migration ${row.version} ${row.name} is applied in the database but missing from the migration list`,
          { version: row.version, name: row.name, problem: 'missing' },
        ),
      });
      continue;
    }
    if (migration.name !== row.name) {
      problems.push({
        version: row.version,
        error: new ChatkeepError(
          'CK_MIGRATION_HISTORY',
          `Migration ${row.version} was applied as ${row.name} but is named ${migration.name} on disk (renamed after it ran)`,
          { version: row.version, name: row.name, diskName: migration.name, problem: 'renamed' },
        ),
      });
      continue;
    }
    let checksum: string;
    try {
      checksum = checksumOf(migration, context);
    } catch (error) {
      // An up() that throws (CK_CONFIG) is one more problem to list, so
      // status() can still describe the rest instead of failing outright.
      problems.push({ version: row.version, error: error as ChatkeepError });
      continue;
    }
    if (checksum !== row.checksum) {
      problems.push({
        version: row.version,
        error: new ChatkeepError(
          'CK_MIGRATION_CHECKSUM',
          `Migration ${row.version} ${row.name} was edited after it ran: applied checksum ${row.checksum}, checksum on disk ${checksum}`,
          {
            version: row.version,
            name: row.name,
            appliedChecksum: row.checksum,
            diskChecksum: checksum,
          },
        ),
      });
    }
  }

  for (const migration of migrations) {
    if (!appliedVersions.has(migration.version) && migration.version < highest) {
      problems.push({
        version: migration.version,
        error: new ChatkeepError(
          'CK_MIGRATION_HISTORY',
          `Migration ${migration.version} ${migration.name} is pending but older than the last applied migration ${highest} (out of order); give it a version above ${highest}`,
          {
            version: migration.version,
            name: migration.name,
            highestApplied: highest,
            problem: 'out-of-order',
          },
        ),
      });
    }
  }

  return problems.sort((a, b) => a.version - b.version).map((p) => p.error);
}
