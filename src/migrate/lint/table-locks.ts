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
      // VALIDATE CONSTRAINT and ATTACH PARTITION take SHARE UPDATE EXCLUSIVE
      // on the table (PostgreSQL ≥ 12 for ATTACH); ATTACH takes ACCESS
      // EXCLUSIVE on the partition (and on a DEFAULT partition, which the lint
      // cannot see). Checked on PostgreSQL 15 with pg_locks.
      const strong = statement.actions.some((a) => a.type !== 'validate-constraint' && a.type !== 'attach-partition');
      const others = statement.actions.flatMap((a) =>
        (a.type === 'add-constraint' || a.type === 'add-column') && a.references !== undefined
          ? [{ table: a.references, mode: 'SHARE ROW EXCLUSIVE' }]
          : a.type === 'attach-partition'
            ? [{ table: a.partition, mode: 'ACCESS EXCLUSIVE' }]
            : [],
      );
      return [...(strong ? [{ table: statement.table, mode: 'ACCESS EXCLUSIVE' }] : []), ...others];
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
