import { isWord, readName } from './token-helpers.js';
import type { Token } from './tokenize.js';

/**
 * First words of PostgreSQL's built-in scalar types (the SQL spellings and
 * the pg_catalog names), none of which is a domain. Keyed by the type's
 * first word, so `double precision`, `timestamp with time zone` and
 * `character varying(20)` are found by `double`, `timestamp`, `character`.
 */
const BUILT_IN = new Set([
  'bigint', 'int8', 'bigserial', 'serial8', 'bit', 'varbit', 'boolean', 'bool', 'box', 'bytea', 'character', 'char',
  'varchar', 'national', 'nchar', 'cidr', 'circle', 'date', 'double', 'float', 'float4', 'float8', 'real', 'inet',
  'integer', 'int', 'int2', 'int4', 'interval', 'json', 'jsonb', 'jsonpath', 'line', 'lseg', 'macaddr', 'macaddr8',
  'money', 'numeric', 'decimal', 'dec', 'path', 'pg_lsn', 'pg_snapshot', 'point', 'polygon', 'smallint',
  'smallserial', 'serial2', 'serial', 'serial4', 'text', 'time', 'timetz', 'timestamp', 'timestamptz', 'tsquery',
  'tsvector', 'txid_snapshot', 'uuid', 'xml', 'oid', 'regclass', 'regtype', 'regproc', 'regprocedure', 'regconfig',
  'regnamespace', 'regrole', 'name', 'int4range', 'int8range', 'numrange', 'tsrange', 'tstzrange', 'daterange',
  'int4multirange', 'int8multirange', 'nummultirange', 'tsmultirange', 'tstzmultirange', 'datemultirange',
]);

/**
 * The qualified name of a column's type when it is not a built-in one (a
 * domain, enum, composite or extension type), so a rule can ask whether it
 * is a domain with constraints; undefined for built-in types and for arrays
 * (an array of a domain is not a domain: adding one rewrites nothing,
 * checked on PostgreSQL 15).
 */
export function userTypeName(dataType: readonly Token[], qualify: (parts: readonly string[]) => string): string | undefined {
  if (dataType.some((t) => (t.kind === 'op' && t.value === '[') || isWord(t, 'array'))) return undefined;
  const name = readName(dataType, 0);
  if (name === undefined) return undefined;
  const schema = name.parts.length >= 2 ? name.parts[name.parts.length - 2] : undefined;
  if (schema === 'pg_catalog') return undefined;
  if (schema === undefined && BUILT_IN.has(name.parts[0]!)) return undefined;
  return qualify(name.parts);
}
