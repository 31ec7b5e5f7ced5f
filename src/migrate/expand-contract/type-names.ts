/** PostgreSQL's other spellings of built-in types, by the name it reports (`format_type`). */
const SYNONYMS: Readonly<Record<string, string>> = {
  int: 'integer',
  int4: 'integer',
  int2: 'smallint',
  int8: 'bigint',
  bool: 'boolean',
  float: 'double precision',
  float8: 'double precision',
  float4: 'real',
  decimal: 'numeric',
  varchar: 'character varying',
  char: 'character',
  bpchar: 'character',
  varbit: 'bit varying',
  timestamptz: 'timestamp with time zone',
  timetz: 'time with time zone',
};

/**
 * `type` (a checked, lower-cased type name) spelt the way PostgreSQL names
 * it, so two spellings of one type compare equal: `int` and `integer`,
 * `varchar(20)` and `character varying(20)`, `timestamptz` and `timestamp
 * with time zone`, `int[]` and `integer[]`. Only for comparing: the DDL
 * keeps the spelling the author wrote (it is part of applied checksums).
 *
 * @example canonicalType('timestamptz(3)') // 'timestamp(3) with time zone'
 */
export function canonicalType(type: string): string {
  const arrays = /(\[\])*$/.exec(type)![0];
  const shape = /^([a-z_][a-z0-9_. ]*?) ?(\( ?\d+ ?(?:, ?\d+ ?)?\))? ?(with time zone|without time zone)?$/.exec(type.slice(0, type.length - arrays.length).trim());
  if (shape === null) return type;
  const spelt = SYNONYMS[shape[1]!] ?? shape[1]!;
  const mods = (shape[2] ?? '').replace(/ /g, '');
  // timestamptz(3) is timestamp(3) with time zone: the modifier goes after the base name.
  const [base, zone] = spelt.endsWith(' with time zone') ? [spelt.slice(0, -' with time zone'.length), 'with time zone'] : [spelt, shape[3]];
  const withZone = zone ?? (base === 'timestamp' || base === 'time' ? 'without time zone' : undefined);
  return `${base}${mods}${withZone === undefined ? '' : ` ${withZone}`}${arrays}`;
}
