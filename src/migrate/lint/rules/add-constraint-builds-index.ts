import { finding, severityBySize, type LintRule } from '../lint-rule.js';

/** PRIMARY KEY / UNIQUE / EXCLUDE without USING INDEX build their index inside ALTER TABLE, under ACCESS EXCLUSIVE. */
export const addConstraintBuildsIndex: LintRule = {
  id: 'add-constraint-builds-index',
  summary: 'ADD PRIMARY KEY / UNIQUE / EXCLUDE without USING INDEX builds an index under ACCESS EXCLUSIVE',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    return statement.actions.flatMap((action) => {
      const kind =
        action.type === 'add-constraint' && !action.usingIndex && action.constraint !== 'check' && action.constraint !== 'foreign key'
          ? action.constraint
          : action.type === 'add-column'
            ? action.buildsIndex
            : undefined;
      if (kind === undefined) return [];
      return finding(
        severityBySize(scope.sizeOf(statement.table)),
        `ADD ${kind.toUpperCase()} on ${statement.table} (${scope.describeSize(statement.table)}) builds its index inside ALTER TABLE, holding ACCESS EXCLUSIVE (no reads or writes) for the whole build${kind === 'primary key' ? ', and first scans to set its columns NOT NULL' : ''}`,
        kind === 'exclude'
          ? 'There is no USING INDEX form for EXCLUDE: build it when the table is new, or in a maintenance window.'
          : `CREATE UNIQUE INDEX CONCURRENTLY in a non-transactional migration, then ALTER TABLE … ADD CONSTRAINT … ${kind.toUpperCase()} USING INDEX (instant).`,
      );
    });
  },
};
