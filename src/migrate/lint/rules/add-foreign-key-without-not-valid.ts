import { finding, severityBySize, type LintRule } from '../lint-rule.js';

/**
 * A validated foreign key checks every existing row while holding SHARE ROW
 * EXCLUSIVE on both tables (writes blocked on both). `NOT VALID` skips the
 * check; a later `VALIDATE CONSTRAINT` does it under SHARE UPDATE EXCLUSIVE,
 * which does not block writes.
 */
export const addForeignKeyWithoutNotValid: LintRule = {
  id: 'add-foreign-key-without-not-valid',
  summary: 'ADD FOREIGN KEY (or ADD COLUMN … REFERENCES) without NOT VALID scans the table while blocking writes on both tables',
  check(statement, scope) {
    if (statement.kind !== 'alter-table') return [];
    return statement.actions.flatMap((action) => {
      const fk =
        (action.type === 'add-constraint' && action.constraint === 'foreign key' && !action.notValid) ||
        (action.type === 'add-column' && action.references !== undefined);
      if (!fk) return [];
      const what = action.type === 'add-column' ? `ADD COLUMN ${action.column} … REFERENCES` : `ADD CONSTRAINT ${action.type === 'add-constraint' ? (action.name ?? '') : ''} FOREIGN KEY`;
      return finding(
        severityBySize(scope.sizeOf(statement.table)),
        `${what} on ${statement.table} (${scope.describeSize(statement.table)}) without NOT VALID: every row is checked against ${action.references ?? 'the referenced table'} while both tables are locked SHARE ROW EXCLUSIVE, blocking their writes`,
        'ADD CONSTRAINT … FOREIGN KEY … NOT VALID in one migration (instant), then ALTER TABLE … VALIDATE CONSTRAINT in a later migration (scans without blocking writes).',
      );
    });
  },
};
