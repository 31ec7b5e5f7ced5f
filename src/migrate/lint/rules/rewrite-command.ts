import type { DdlStatement } from '../ddl-statement.js';
import { severityBySize, type LintRule } from '../lint-rule.js';

/**
 * Commands that rewrite a whole table (or its indexes) under a lock that
 * blocks writes: VACUUM FULL and CLUSTER (ACCESS EXCLUSIVE), REINDEX
 * without CONCURRENTLY (SHARE on the table), and ALTER TABLE SET
 * TABLESPACE / SET LOGGED / SET UNLOGGED / SET ACCESS METHOD.
 */
export const rewriteCommand: LintRule = {
  id: 'rewrite-command',
  summary: 'VACUUM FULL, CLUSTER, REINDEX (not CONCURRENTLY), SET TABLESPACE/LOGGED/UNLOGGED/ACCESS METHOD rewrite under lock',
  check(statement, scope) {
    const fix =
      'Do not rewrite a live table in a migration: use REINDEX CONCURRENTLY for bloat in indexes and pg_repack (online) for tables, or schedule a maintenance window.';
    if (statement.kind === 'rewrite-command') {
      const severity = statement.table === undefined ? 'error' : severityBySize(scope.sizeOf(statement.table));
      if (severity === undefined) return [];
      return [
        {
          severity,
          message: `${statement.command} ${statement.table === undefined ? whatIsRebuilt(statement.target) : `${statement.table} (${scope.describeSize(statement.table)})`} rewrites ${statement.command === 'REINDEX' ? 'the indexes while blocking writes' : 'the table under ACCESS EXCLUSIVE (no reads or writes)'} for as long as it takes`,
          fix,
        },
      ];
    }
    if (statement.kind !== 'alter-table') return [];
    const severity = severityBySize(scope.sizeOf(statement.table));
    if (severity === undefined) return [];
    return statement.actions.flatMap((action) =>
      action.type === 'rewrite'
        ? [
            {
              severity,
              message: `ALTER TABLE ${statement.table} ${action.what.toUpperCase()} (${scope.describeSize(statement.table)}) rewrites the table under ACCESS EXCLUSIVE (no reads or writes)`,
              fix,
            },
          ]
        : [],
    );
  },
};

/** What a REINDEX (or a VACUUM FULL / CLUSTER of no one table) rebuilds, for the message. */
function whatIsRebuilt(target: Extract<DdlStatement, { kind: 'rewrite-command' }>['target']): string {
  switch (target?.kind) {
    case 'INDEX':
      return `INDEX ${target.name ?? ''} (its table's size is unknown to the lint; the index's table is locked SHARE)`;
    case 'SCHEMA':
      return `SCHEMA ${target.name ?? ''} (every table in the schema)`;
    case 'DATABASE':
      return `DATABASE ${target.name ?? ''} (every table in the database)`.replace('  ', ' ');
    case 'SYSTEM':
      return `SYSTEM ${target.name ?? ''} (every system catalogue of the database)`.replace('  ', ' ');
    default:
      return '(every table)';
  }
}
