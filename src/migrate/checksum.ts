import { createHash } from 'node:crypto';
import { withoutGeneratedLintComments } from './lint/generated-lint-comments.js';
import type { Migration, MigrationContext } from './migration.js';
import { renderMigration } from './render-migration.js';
import { statementText } from './steps.js';

/**
 * The checksum recorded when a migration is applied: SHA-256 (hex) of
 * `${version}\n${name}\n` followed by the rendered `up` statements joined with
 * `'\n;\n'`. The SQL is rendered with the context, so changing a setting that
 * changes the SQL changes the checksum; `down` is not part of it, so fixing a
 * broken `down` does not invalidate history. The lint comments a builder
 * writes at the start of a statement (`-- lint-ignore(dropColumnWithBackup):
 * …`) are left out: they change how the SQL is judged, not what it does, and
 * builders of earlier versions wrote none (see generated-lint-comments.ts).
 *
 * @example
 * checksumOf(migration, { schema: 'chatkeep', settings: {} }); // 'a3f1…'
 */
export function checksumOf(migration: Migration, context: MigrationContext): string {
  // A step counts as the SQL it stands for; for plain-SQL migrations this is
  // exactly the statements, so their recorded checksums never change.
  const statements = renderMigration(migration, 'up', context).map((s) =>
    typeof s === 'string' ? withoutGeneratedLintComments(s) : statementText(s, { forChecksum: true }),
  );
  return createHash('sha256')
    .update(`${migration.version}\n${migration.name}\n${statements.join('\n;\n')}`)
    .digest('hex');
}
