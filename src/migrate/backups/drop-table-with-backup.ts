import { ChatkeepError } from '../../errors/index.js';
import { assertIdentifier } from '../identifier.js';
import { annotated, assertLintReason, lintFixLine, lintIgnoreLine } from '../lint/generated-lint-comments.js';
import { verify } from '../steps.js';
import { assertSqlFragment, assertVersion, backupSchemaName, dropSchemaIfEmpty, parseQualifiedTable } from './backup-names.js';
import type { ReversibleChange } from './reversible-change.js';

/** A foreign key on another table that points at the dropped one: dropped by `up`, re-added by `down`. */
export interface ReferencingForeignKey {
  /** `schema.table` holding the constraint. */
  readonly table: string;
  /** The constraint's name, e.g. `notes_legacy_id_fkey`. */
  readonly name: string;
  /** Its definition as `pg_get_constraintdef` prints it, e.g. `foreign key (legacy_id) references app.legacy (id) on delete cascade`. */
  readonly definition: string;
}

export interface DropTableWithBackupOptions {
  /** `schema.table` to drop. */
  readonly table: string;
  /** The version of the migration this runs in; names the backup schema (see {@link backupSchemaName}). */
  readonly version: number;
  /**
   * Every foreign key of another table that references this one. `up`
   * refuses to run while an unlisted one exists: moving the table aside would
   * leave it enforcing against the backup instead of disappearing.
   */
  readonly referencedBy?: readonly ReferencingForeignKey[];
  /**
   * Why no deployed code reads or writes the table any more, e.g. `'app ≥ 4.2
   * no longer reads legacy_notes; every instance upgraded on 2024-05-02'`.
   * Moving the table aside keeps its data, but code still using it fails, so
   * the lint reports the move as an error (`rename-table`) and `up` refuses it
   * until you take that decision here: the text becomes the reason of the
   * `-- lint-ignore` comment on the move. One line, not empty.
   */
  readonly unusedBecause?: string;
}

const BUILDER = 'dropTableWithBackup';

/**
 * Drops a table so that `down` brings it back with its data: `up` moves it
 * into the backup schema (`ALTER TABLE … SET SCHEMA`, a catalogue-only change
 * under a brief ACCESS EXCLUSIVE lock, whatever the table's size); `down`
 * moves it back. Indexes, constraints, triggers, owned sequences, policies,
 * grants and comments travel with the table, so after `down` its schema
 * fingerprint and rows are the ones before `up`. Foreign keys of other tables
 * pointing at it must be listed in `referencedBy` (dropped by `up`, re-added
 * `NOT VALID` and validated by `down`); dependent views, partitioned tables,
 * partitions and inheritance are refused with an error naming them. The
 * backup stays until a later migration runs {@link cleanupBackups}.
 *
 * The SQL carries its own `-- lint-ignore` comments for what the builder
 * makes safe (its explicit lock; moving the backup back in `down`); the move
 * itself stays a lint error until `unusedBecause` says why nothing uses the
 * table any more.
 *
 * @example
 * const drop = (s: string) =>
 *   dropTableWithBackup({ table: `${s}.legacy_notes`, version: 8, unusedBecause: 'notes moved to chatkeep in app 4.2, deployed everywhere' });
 * const m: Migration = { version: 8, name: 'drop-legacy-notes', up: ({ schema: s }) => drop(s).up, down: ({ schema: s }) => drop(s).down };
 */
export function dropTableWithBackup(options: DropTableWithBackupOptions): ReversibleChange {
  const table = parseQualifiedTable('table', options.table);
  const version = assertVersion(options.version);
  const backup = backupSchemaName(table.schema, version);
  const referencedBy = (options.referencedBy ?? []).map((fk, i) => {
    const on = parseQualifiedTable(`referencedBy[${i}].table`, fk.table);
    if (on.sql === table.sql) {
      throw new ChatkeepError('CK_CONFIG', `referencedBy[${i}].table: a self-reference moves with the table; list only other tables' foreign keys`, {
        field: `referencedBy[${i}].table`,
      });
    }
    return { on: on.sql, name: assertIdentifier(`referencedBy[${i}].name`, fk.name), definition: assertSqlFragment(`referencedBy[${i}].definition`, fk.definition) };
  });
  const unusedBecause = options.unusedBecause === undefined ? undefined : assertLintReason('unusedBecause', options.unusedBecause);
  const literal = `'${table.sql}'`;

  const up = [
    `create schema if not exists ${backup}`,
    // Taken first so no foreign key or view can appear between the check
    // below and the move: both need a lock that conflicts with this one.
    annotated(
      `lock table ${table.sql} in access exclusive mode`,
      lintIgnoreLine(
        BUILDER,
        ['lock-table'],
        'the move below needs this lock anyway; taking it first keeps a foreign key or view from appearing between the dependents check and the move, and every statement of this builder under it is a catalogue change, whatever the size of the table',
      ),
    ),
    ...referencedBy.map((fk) => `alter table ${fk.on} drop constraint ${fk.name}`),
    refuseDependents(table.sql, literal),
    // The move is the drop: the data is kept, but code still using the table
    // fails. Only the user can say nothing does any more.
    annotated(
      `alter table ${table.sql} set schema ${backup}`,
      unusedBecause !== undefined
        ? lintIgnoreLine(BUILDER, ['rename-table'], unusedBecause)
        : lintFixLine(
            BUILDER,
            'rename-table',
            `This move is how dropTableWithBackup drops ${table.sql}: the table itself becomes the backup (down moves it back), but code still using ${table.sql} fails from here on. Once no deployed code reads or writes it, pass unusedBecause: '<why nothing uses ${table.sql} any more>' to dropTableWithBackup; that text becomes the reason of this finding's suppression. Until then, leave the migration out of the deploy.`,
          ),
    ),
  ];

  const restored = [
    annotated(
      `alter table ${backup}.${table.name} set schema ${table.schema}`,
      lintIgnoreLine(BUILDER, ['rename-table'], `moves the backup back under its original name; no application code uses ${backup}`),
    ),
  ];
  const down =
    referencedBy.length === 0
      ? [...restored, dropSchemaIfEmpty(backup)]
      : [
          ...restored,
          // NOT VALID: adding the key only takes brief locks; validating it
          // (next phase) scans under SHARE UPDATE EXCLUSIVE, which writers pass.
          ...referencedBy.map((fk) => `alter table ${fk.on} add constraint ${fk.name} ${fk.definition} not valid`),
          verify(`${table.sql} is back from ${backup}`, `select to_regclass(${literal}) is not null`),
          ...referencedBy.map((fk) => `alter table ${fk.on} validate constraint ${fk.name}`),
          dropSchemaIfEmpty(backup),
        ];
  return { up, down };
}

/**
 * A DO block that fails, naming the culprits, when moving the table aside
 * would not behave like a drop: an unlisted foreign key from another table
 * (it would keep enforcing against the backup), a view or rule reading it
 * (it would keep reading the backup), or partitioning/inheritance (SET SCHEMA
 * moves the parent only).
 */
function refuseDependents(table: string, literal: string): string {
  return `do $ck$
declare
  target oid := to_regclass(${literal});
  found text;
begin
  if target is null then
    raise exception 'dropTableWithBackup: table ${table} does not exist';
  end if;
  select string_agg(format('%s on %s', con.conname, con.conrelid::regclass), ', ' order by 1) into found
    from pg_constraint con
   where con.contype = 'f' and con.confrelid = target and con.conrelid <> target;
  if found is not null then
    raise exception 'dropTableWithBackup: ${table} is referenced by foreign keys not listed in referencedBy: %', found;
  end if;
  select string_agg(distinct r.ev_class::regclass::text, ', ') into found
    from pg_depend d join pg_rewrite r on r.oid = d.objid
   where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
     and d.refobjid = target and r.ev_class <> target;
  if found is not null then
    raise exception 'dropTableWithBackup: views depend on ${table}: % (drop them first, and re-create them in down)', found;
  end if;
  if exists (select 1 from pg_class where oid = target and (relkind <> 'r' or relispartition))
     or exists (select 1 from pg_inherits where inhparent = target or inhrelid = target) then
    raise exception 'dropTableWithBackup: ${table} is partitioned, a partition or part of an inheritance tree, which is not supported';
  end if;
end $ck$`;
}
