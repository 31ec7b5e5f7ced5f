import type { DdlStatement } from './ddl-statement.js';

/** A table lock a statement takes that blocks the application's writes (SHARE or stronger). */
export interface TableLock {
  readonly table: string;
  readonly mode: string;
}

/**
 * The write-blocking table locks `statement` takes, per the PostgreSQL manual
 * ("Explicit Locking", table 13.2, and each command's page): most ALTER TABLE
 * forms and RENAME/DROP take ACCESS EXCLUSIVE, CREATE INDEX takes SHARE, a
 * foreign key takes SHARE ROW EXCLUSIVE on the referenced table.
 * `VALIDATE CONSTRAINT` (SHARE UPDATE EXCLUSIVE) and `CONCURRENTLY` builds
 * do not block writes and are left out.
 */
export function tableLocks(statement: DdlStatement): readonly TableLock[] {
  switch (statement.kind) {
    case 'alter-table': {
      const strong = statement.actions.some((a) => a.type !== 'validate-constraint');
      const referenced = statement.actions.flatMap((a) =>
        (a.type === 'add-constraint' || a.type === 'add-column') && a.references !== undefined
          ? [{ table: a.references, mode: 'SHARE ROW EXCLUSIVE' }]
          : [],
      );
      return [...(strong ? [{ table: statement.table, mode: 'ACCESS EXCLUSIVE' }] : []), ...referenced];
    }
    case 'create-table':
      return statement.references
        .filter((t) => t !== statement.table)
        .map((table) => ({ table, mode: 'SHARE ROW EXCLUSIVE' }));
    case 'create-index':
      return statement.concurrently ? [] : [{ table: statement.table, mode: 'SHARE' }];
    case 'rename-table':
    case 'rename-column':
      return [{ table: statement.table, mode: 'ACCESS EXCLUSIVE' }];
    case 'drop-table':
    case 'truncate':
      return statement.tables.map((table) => ({ table, mode: 'ACCESS EXCLUSIVE' }));
    case 'rewrite-command':
      return statement.table === undefined ? [] : [{ table: statement.table, mode: 'ACCESS EXCLUSIVE' }];
    case 'lock-table':
      return statement.tables.map((table) => ({ table, mode: statement.mode }));
    default:
      return [];
  }
}
