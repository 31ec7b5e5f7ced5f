import { DOWN_AFTER_PARTIAL_UP } from '../down-after-partial-up.js';
import type { LintRule } from '../lint-rule.js';
import { addCheckWithoutNotValid } from './add-check-without-not-valid.js';
import { addColumnNotNullWithoutDefault } from './add-column-not-null-without-default.js';
import { addColumnRewrite } from './add-column-rewrite.js';
import { addConstraintBuildsIndex } from './add-constraint-builds-index.js';
import { addForeignKeyWithoutNotValid } from './add-foreign-key-without-not-valid.js';
import { addIndexNonConcurrent } from './add-index-non-concurrent.js';
import { alterColumnType } from './alter-column-type.js';
import { concurrentInTransaction } from './concurrent-in-transaction.js';
import { dropColumn } from './drop-column.js';
import { dropIndexNonConcurrent } from './drop-index-non-concurrent.js';
import { dropTable } from './drop-table.js';
import { lockTable } from './lock-table.js';
import { lockTimeout } from './lock-timeout.js';
import { multipleTablesLocked } from './multiple-tables-locked.js';
import { nonTransactionalNotIdempotent } from './non-transactional-not-idempotent.js';
import { renameColumn } from './rename-column.js';
import { renameTable } from './rename-table.js';
import { rewriteCommand } from './rewrite-command.js';
import { setNotNull } from './set-not-null.js';
import { statementTimeout } from './statement-timeout.js';
import { truncateTable } from './truncate-table.js';
import { unbatchedBackfill } from './unbatched-backfill.js';
import { validateInSameTransaction } from './validate-in-same-transaction.js';

/** Every statement rule, in the order their findings are listed for one statement. */
export const STATEMENT_RULES: readonly LintRule[] = [
  addColumnRewrite,
  addColumnNotNullWithoutDefault,
  alterColumnType,
  setNotNull,
  addForeignKeyWithoutNotValid,
  addCheckWithoutNotValid,
  addConstraintBuildsIndex,
  addIndexNonConcurrent,
  dropIndexNonConcurrent,
  concurrentInTransaction,
  nonTransactionalNotIdempotent,
  validateInSameTransaction,
  dropTable,
  truncateTable,
  dropColumn,
  renameTable,
  renameColumn,
  rewriteCommand,
  lockTable,
  lockTimeout,
  statementTimeout,
  multipleTablesLocked,
  unbatchedBackfill,
];

/** Findings about the migration or the lint itself rather than one statement's SQL. */
export const MIGRATION_RULES = {
  missingDown: { id: 'missing-down', summary: 'down() returns no statements or throws, so the migration cannot be reverted' },
  downAssumesWholeUp: DOWN_AFTER_PARTIAL_UP,
  renderError: { id: 'render-error', summary: 'up()/down() throws or returns something other than SQL strings' },
  sqlSyntax: { id: 'sql-syntax', summary: 'An entry ends inside a string, quoted identifier, comment or dollar quote' },
  lintIgnoreInvalid: {
    id: 'lint-ignore-invalid',
    summary: 'A -- lint-ignore: comment names an unknown rule or gives no reason, or a -- lint-fix: comment names no known rule or gives no text',
  },
} as const;

/** Every rule id the lint can report (and `-- lint-ignore:` accepts). */
export const RULE_IDS: readonly string[] = [
  ...STATEMENT_RULES.map((r) => r.id),
  ...Object.values(MIGRATION_RULES).map((r) => r.id),
];
