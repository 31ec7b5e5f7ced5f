import { verify } from '../steps.js';
import { assertVersion, backupSchemaName } from './backup-names.js';
import type { ReversibleChange } from './reversible-change.js';

export interface CleanupBackupsOptions {
  /** The schema whose tables were backed up. */
  readonly schema: string;
  /** The version of the migration that made the backups. */
  readonly version: number;
}

/**
 * For a later migration, once the destructive change is final: drops every
 * backup that migration `version` made for `schema` (the tables of
 * `<schema>__ck_backup_v<version>`, in one `DROP TABLE` so backups that
 * reference each other go together, then the schema, without CASCADE — an
 * object elsewhere that depends on a backup, such as a view, makes it fail
 * instead of vanishing with it). Its `down` cannot bring the data back, so
 * it fails with an error saying so rather than pretending: the migrations
 * below it cannot be undone past this point.
 *
 * @example
 * const m: Migration = {
 *   version: 12, name: 'drop-legacy-backups',
 *   up: ({ schema: s }) => cleanupBackups({ schema: s, version: 8 }).up,
 *   down: ({ schema: s }) => cleanupBackups({ schema: s, version: 8 }).down,
 * };
 */
export function cleanupBackups(options: CleanupBackupsOptions): ReversibleChange {
  const backup = backupSchemaName(options.schema, assertVersion(options.version));
  const up = [
    `do $ck$
declare
  tables text;
begin
  select string_agg(c.oid::regclass::text, ', ') into tables
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = '${backup}' and c.relkind in ('r', 'p');
  if tables is not null then
    execute 'drop table ' || tables;
  end if;
end $ck$`,
    `drop schema if exists ${backup}`,
  ];
  const down = [
    verify(
      `the backups in ${backup} were deleted by cleanupBackups and cannot be restored; undoing migration ${options.version} would lose data (restore a database backup instead)`,
      'select false',
    ),
  ];
  return { up, down };
}
