import { ChatkeepError } from '../../errors/index.js';
import { assertIdentifier } from '../identifier.js';

/** A `schema.table` reference, split and validated. */
export interface QualifiedTable {
  readonly schema: string;
  readonly name: string;
  /** `schema.name`, as it is interpolated into SQL. */
  readonly sql: string;
}

/**
 * Where the backups made by migration `version` for tables of `schema` live:
 * `<schema>__ck_backup_v<version>`. One schema per source schema and
 * migration, because `ALTER TABLE … SET SCHEMA` carries the table's index,
 * constraint and sequence names with it: a table dropped, re-created and
 * dropped again by a later migration would otherwise collide on `t_pkey`.
 *
 * @example backupSchemaName('app', 8) // 'app__ck_backup_v8'
 */
export function backupSchemaName(schema: string, version: number): string {
  assertIdentifier('schema', schema);
  assertVersion(version);
  const name = `${schema}__ck_backup_v${version}`;
  if (name.length > 63) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `schema: the backup schema name "${name}" would be longer than PostgreSQL's 63 characters; use a shorter schema name`,
      { field: 'schema' },
    );
  }
  return name;
}

/** Throws CK_CONFIG naming `field` unless `value` is `schema.table` with two plain identifiers. */
export function parseQualifiedTable(field: string, value: unknown): QualifiedTable {
  const parts = typeof value === 'string' ? value.split('.') : [];
  if (parts.length !== 2) {
    throw new ChatkeepError('CK_CONFIG', `${field}: expected schema.table, got ${JSON.stringify(value)}`, { field });
  }
  const schema = assertIdentifier(field, parts[0]);
  const name = assertIdentifier(field, parts[1]);
  return { schema, name, sql: `${schema}.${name}` };
}

/** Throws CK_CONFIG unless `version` is a positive integer (the version of the migration making the backup). */
export function assertVersion(version: unknown): number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version <= 0) {
    throw new ChatkeepError('CK_CONFIG', `version: expected the positive integer version of the migration making the backup, got ${JSON.stringify(version)}`, {
      field: 'version',
    });
  }
  return version;
}

/** Throws CK_CONFIG naming `field` unless `value` is a non-empty SQL fragment. */
export function assertSqlFragment(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ChatkeepError('CK_CONFIG', `${field}: expected a non-empty SQL fragment, got ${JSON.stringify(value)}`, { field });
  }
  return value;
}

/**
 * A statement that drops the backup schema when nothing is left in it. Several
 * backups of one migration share the schema, and each one's `down` removes
 * only its own, so the last one out turns off the light; a schema still
 * holding something makes `DROP SCHEMA` (without CASCADE) fail, which is
 * caught and ignored.
 */
export function dropSchemaIfEmpty(schema: string): string {
  return `do $ck$ begin drop schema if exists ${schema}; exception when dependent_objects_still_exist then null; end $ck$`;
}
