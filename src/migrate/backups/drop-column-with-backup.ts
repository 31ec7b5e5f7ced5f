import { ChatkeepError } from '../../errors/index.js';
import { assertIdentifier } from '../identifier.js';
import { annotated, assertLintReason, lintFixLine, lintIgnoreLine } from '../lint/generated-lint-comments.js';
import { backfill, verify } from '../steps.js';
import { assertSqlFragment, assertVersion, backupSchemaName, dropSchemaIfEmpty, parseQualifiedTable } from './backup-names.js';
import type { ReversibleChange } from './reversible-change.js';

/**
 * The dropped column as it was declared, for `down` to re-create it. Passed
 * in rather than read from the catalogue because a migration renders its SQL
 * from its context alone (STYLE 6): the same arguments give the same SQL and
 * checksum on every database.
 */
export interface ColumnDefinition {
  /** SQL type, e.g. `text`, `numeric(10,2)`, `app.mood`. */
  readonly type: string;
  /** Default expression, e.g. `'draft'` or `now()`. */
  readonly default?: string;
  readonly notNull?: boolean;
  /** CHECK constraints that mention the column (PostgreSQL drops them with it), by name. */
  readonly checks?: readonly { readonly name: string; readonly expression: string }[];
}

export interface DropColumnWithBackupOptions {
  /** `schema.table`. */
  readonly table: string;
  readonly column: string;
  /** Columns that identify a row (usually the primary key); the backup is keyed, and restored, by them. */
  readonly key: readonly string[];
  readonly definition: ColumnDefinition;
  /** The version of the migration this runs in; names the backup schema (see {@link backupSchemaName}). */
  readonly version: number;
  /** Rows per batch when `down` restores the values (default 1000). */
  readonly batchSize?: number;
  /**
   * Why no deployed code reads or writes the column any more, e.g. `'app ≥
   * 4.2 no longer selects or inserts notes.mood; every instance upgraded on
   * 2024-05-02'`. The backup keeps the values, but code still using the
   * column fails, so the lint reports the drop as an error (`drop-column`)
   * and `up` refuses it until you take that decision here: the text becomes
   * the reason of the `-- lint-ignore` comment on the drop. One line, not empty.
   */
  readonly unusedBecause?: string;
}

const BUILDER = 'dropColumnWithBackup';

/** The backup table's columns are prefixed so that, inside the restore's correlated subqueries, an unqualified name can only mean the restored table's own column. */
const keyColumn = (i: number) => `__ck_k${i}`;
const VALUE = '__ck_v';
const NOT_NULL_CHECK = '__ck_restore_not_null';

/**
 * Drops a column so that `down` brings its values back. `up` copies the key
 * and the column into `<schema>__ck_backup_v<version>.<table>__<column>` and
 * drops the column, in one transaction that first takes a SHARE lock on the
 * table: writers wait for the copy (readers do not), and in exchange the
 * backup is exactly the column at the moment it disappears. `down` re-adds
 * the column (nullable, at the end of the table), restores the values in
 * keyset batches (a resumable `backfill`), gives rows inserted after the
 * drop the default, verifies every backed-up value is back, then adds the
 * CHECKs and NOT NULL as `NOT VALID` + `VALIDATE` (no long exclusive lock)
 * and drops the backup.
 *
 * The drop stays a lint error (`drop-column`) until `unusedBecause` says why
 * nothing uses the column any more. The SHARE lock's warning (`lock-table`:
 * writers wait for the copy) is left for the reviewer to weigh; what `down`
 * makes safe by construction carries its own `-- lint-ignore` comments.
 *
 * @example
 * dropColumnWithBackup({
 *   table: `${s}.notes`, column: 'mood', key: ['id'], version: 9,
 *   definition: { type: 'text', default: `'ok'`, notNull: true, checks: [{ name: 'notes_mood_check', expression: `mood <> ''` }] },
 *   unusedBecause: 'app 4.2 stopped reading and writing mood; deployed everywhere',
 * })
 */
export function dropColumnWithBackup(options: DropColumnWithBackupOptions): ReversibleChange {
  const table = parseQualifiedTable('table', options.table);
  const column = assertIdentifier('column', options.column);
  const version = assertVersion(options.version);
  if (!Array.isArray(options.key) || options.key.length === 0) {
    throw new ChatkeepError('CK_CONFIG', 'key: expected a non-empty list of column names', { field: 'key' });
  }
  const key = options.key.map((k, i) => assertIdentifier(`key[${i}]`, k));
  if (key.includes(column)) throw new ChatkeepError('CK_CONFIG', `key: must not include the dropped column "${column}"`, { field: 'key' });
  for (const name of [column, ...key]) {
    if (name.startsWith('__ck_')) throw new ChatkeepError('CK_CONFIG', `column: names starting with __ck_ are reserved for backups, got "${name}"`, { field: 'column' });
  }
  const definition = options.definition;
  if (typeof definition !== 'object' || definition === null) {
    throw new ChatkeepError('CK_CONFIG', 'definition: expected { type, default?, notNull?, checks? }', { field: 'definition' });
  }
  const type = assertSqlFragment('definition.type', definition.type);
  const defaultExpr = definition.default === undefined ? undefined : assertSqlFragment('definition.default', definition.default);
  const checks = (definition.checks ?? []).map((c, i) => ({
    name: assertIdentifier(`definition.checks[${i}].name`, c.name),
    expression: assertSqlFragment(`definition.checks[${i}].expression`, c.expression),
  }));
  const unusedBecause = options.unusedBecause === undefined ? undefined : assertLintReason('unusedBecause', options.unusedBecause);
  const schema = backupSchemaName(table.schema, version);
  const backup = `${schema}.${assertIdentifier('column', `${table.name}__${column}`)}`;

  const backupKeys = key.map((_, i) => keyColumn(i)).join(', ');
  // Unqualified key names in a subquery resolve to the restored table's
  // columns, whatever alias the backfill runner gives that table.
  const matchOn = (prefix: string) =>
    `(${key.map((_, i) => `ck_backup.${keyColumn(i)}`).join(', ')}) = (${key.map((k) => `${prefix}${k}`).join(', ')})`;
  const matches = matchOn('');

  const up = [
    `create schema if not exists ${schema}`,
    // SHARE blocks writers until the transaction ends, so no write can slip
    // between the copy's snapshot and the drop (READ COMMITTED gives each
    // statement its own snapshot).
    `lock table ${table.sql} in share mode`,
    `create table ${backup} as select ${key.map((k, i) => `${k} as ${keyColumn(i)}`).join(', ')}, ${column} as ${VALUE} from ${table.sql}`,
    `alter table ${backup} add primary key (${backupKeys})`,
    `comment on table ${backup} is 'chatkeep backup of ${table.sql}.${column} keyed by (${key.join(', ')}), made by migration ${version}'`,
    // The values are kept, but code still using the column fails from here
    // on. Only the user can say nothing does any more.
    annotated(
      `alter table ${table.sql} drop column ${column}`,
      unusedBecause !== undefined
        ? lintIgnoreLine(BUILDER, ['drop-column'], unusedBecause)
        : lintFixLine(
            BUILDER,
            'drop-column',
            `The values are kept in ${backup} for down, but code still selecting or inserting ${table.sql}.${column} fails from here on. Once no deployed code reads or writes it, pass unusedBecause: '<why nothing uses ${column} any more>' to dropColumnWithBackup; that text becomes the reason of this finding's suppression. Until then, leave the migration out of the deploy.`,
          ),
    ),
  ];

  const down = [
    `alter table ${table.sql} add column ${column} ${type}`,
    ...(defaultExpr === undefined ? [] : [`alter table ${table.sql} alter column ${column} set default ${defaultExpr}`]),
    // Only rows whose backed-up value is not null need a write; the others
    // are already right (null), which also makes the step's `where` exact.
    backfill({
      table: table.sql,
      key,
      set: `${column} = (select ck_backup.${VALUE} from ${backup} ck_backup where ${matches})`,
      where: `${column} is null and exists (select 1 from ${backup} ck_backup where ${matches} and ck_backup.${VALUE} is not null)`,
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    }),
    // Rows inserted while the column was gone would have got its default.
    ...(defaultExpr === undefined
      ? []
      : [
          backfill({
            table: table.sql,
            key,
            set: `${column} = ${defaultExpr}`,
            where: `${column} is null and not exists (select 1 from ${backup} ck_backup where ${matches})`,
            ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
          }),
        ]),
    ...checks.map((c) => `alter table ${table.sql} add constraint ${c.name} check (${c.expression}) not valid`),
    ...(definition.notNull === true ? [`alter table ${table.sql} add constraint ${NOT_NULL_CHECK} check (${column} is not null) not valid`] : []),
    // Compared as text: json, xml and point have no equality operator, and
    // IS DISTINCT FROM on them fails (42883), which would leave `down` unable
    // to finish although every value is back. Identical values print
    // identically (json and xml keep their text as written). `type` is not
    // used to cast: it may carry a clause a cast refuses (`collate "C"`).
    verify(
      `every value of ${table.sql}.${column} is restored from ${backup}`,
      `select not exists (select 1 from ${backup} ck_backup join ${table.sql} on ${matchOn(`${table.sql}.`)} where ${table.sql}.${column}::text is distinct from ck_backup.${VALUE}::text)`,
    ),
    // VALIDATE scans under SHARE UPDATE EXCLUSIVE (writers pass); SET NOT
    // NULL then finds the validated check and skips its own full scan.
    ...checks.map((c) => `alter table ${table.sql} validate constraint ${c.name}`),
    ...(definition.notNull === true
      ? [
          `alter table ${table.sql} validate constraint ${NOT_NULL_CHECK}`,
          annotated(
            `alter table ${table.sql} alter column ${column} set not null`,
            lintIgnoreLine(BUILDER, ['set-not-null'], `the constraint validated just before is ${NOT_NULL_CHECK} = CHECK (${column} IS NOT NULL), so no scan`),
          ),
          `alter table ${table.sql} drop constraint ${NOT_NULL_CHECK}`,
        ]
      : []),
    annotated(
      `drop table ${backup}`,
      lintIgnoreLine(BUILDER, ['drop-table'], 'this is the backup table, dropped after the verify step above found every value restored; nothing else writes to it'),
    ),
    dropSchemaIfEmpty(schema),
  ];
  return { up, down };
}
