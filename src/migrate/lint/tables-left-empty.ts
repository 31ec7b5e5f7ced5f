import { statementText, type MigrationStatement } from '../steps.js';
import { describeStatement } from './describe-statement.js';
import { splitStatements, type SqlStatement } from './split-statements.js';
import { isWord, readName } from './token-helpers.js';

/** Leading keywords of statements that may put rows into some table (directly, or through code they run). */
const MAY_WRITE = new Set(['INSERT', 'COPY', 'MERGE', 'DO', 'CALL', 'SELECT', 'WITH', 'UPDATE', 'DELETE', 'EXECUTE']);

/** What one migration's rendered `up` does to the row counts of tables. */
export interface TableEffects {
  /** Tables it creates. */
  readonly created: ReadonlySet<string>;
  /** Tables it inserts into by name (`INSERT INTO t …`, `COPY t FROM …`). */
  readonly inserts: ReadonlySet<string>;
  /** Whether it creates a trigger or rule (which can turn an insert into writes elsewhere). */
  readonly createsTrigger: boolean;
  /** Whether it may write rows into tables it does not name (a DO block, a function called by SELECT, a backfill, SQL the lexer cannot read…). */
  readonly mayWriteAnywhere: boolean;
}

/**
 * What `statements` (one migration's rendered `up`) do to tables' row
 * counts, as far as the SQL shows. `migrate up` lints every pending
 * migration against the database as it is before the first one runs, so a
 * table an earlier pending migration creates does not exist yet and its size
 * would be "unknown": on a fresh install every later migration touching
 * chatkeep's own tables warned as if they were live ones. With these effects
 * the live lint (live-lint.ts) knows such a table is still empty.
 *
 * Deliberately conservative: anything that may write rows without naming
 * the table (see {@link TableEffects.mayWriteAnywhere}), and a
 * `CREATE TABLE … AS`, count as writes.
 */
export function tableEffects(statements: readonly MigrationStatement[], defaultSchema: string): TableEffects {
  const created = new Set<string>();
  const inserts = new Set<string>();
  let createsTrigger = false;
  let mayWriteAnywhere = false;
  for (const statement of statements) {
    if (typeof statement !== 'string' && statement.kind === 'verify') continue;
    if (typeof statement !== 'string' && statement.kind === 'backfill') {
      mayWriteAnywhere = true;
      continue;
    }
    const texts = typeof statement === 'string' ? [statement] : statement.kind === 'non-transactional' ? statement.statements : [statementText(statement)];
    for (const text of texts) {
      const split = splitStatements(text, 0);
      if (split.error !== undefined) mayWriteAnywhere = true;
      for (const sql of split.statements) {
        const shape = describeStatement(sql, defaultSchema);
        if (shape.kind === 'create-table') {
          created.add(shape.table);
          if (sql.tokens.some((t) => isWord(t, 'select', 'values', 'execute'))) inserts.add(shape.table);
          // SELECT … INTO is described as the table it creates, but its query may call code that writes anywhere, like any SELECT.
          if (isWord(sql.tokens[0], 'select')) mayWriteAnywhere = true;
          continue;
        }
        const target = insertTarget(sql, defaultSchema);
        if (target !== undefined) inserts.add(target);
        else if (shape.kind === 'dml' || (shape.kind === 'other' && MAY_WRITE.has(shape.keyword.split(' ')[0] ?? ''))) mayWriteAnywhere = true;
        if (isWord(sql.tokens[0], 'create') && sql.tokens.slice(1, 5).some((t) => isWord(t, 'trigger', 'rule'))) createsTrigger = true;
      }
    }
  }
  return { created, inserts, createsTrigger, mayWriteAnywhere };
}

/** The table of `INSERT INTO t …` or `COPY t FROM …`, qualified; undefined for anything else. */
function insertTarget(sql: SqlStatement, defaultSchema: string): string | undefined {
  const t = sql.tokens;
  const at = isWord(t[0], 'insert') && isWord(t[1], 'into') ? 2 : isWord(t[0], 'copy') ? 1 : undefined;
  if (at === undefined) return undefined;
  const name = readName(t, at);
  if (name === undefined) return undefined;
  if (isWord(t[0], 'copy') && !isWord(t[name.next], 'from')) return undefined;
  const parts = name.parts;
  return parts.length >= 2 ? `${parts[parts.length - 2]}.${parts[parts.length - 1]}` : `${defaultSchema}.${parts[0] ?? ''}`;
}
