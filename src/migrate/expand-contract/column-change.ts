import { createHash } from 'node:crypto';
import { ChatkeepError } from '../../errors/index.js';
import { assertIdentifier } from '../identifier.js';
import { canonicalType } from './type-names.js';

/**
 * Turns a SQL reference to one side's value into the other side's value.
 * The argument is already a complete SQL expression — `NEW."price_cents"`
 * inside the sync trigger, `"price_cents"` in the backfill and the
 * verification — so the callback never has to know where it is used, and
 * nothing is rewritten textually.
 *
 * @example (cents) => `${cents} / 100.0`
 */
export type ColumnConversion = (value: string) => string;

/** One side of a column change: its name and its SQL type. */
export interface ColumnShape {
  /** A plain lower-case identifier. */
  readonly column: string;
  /** A SQL type such as `text`, `numeric(10,2)`, `timestamp with time zone`, `text[]`. Optional on `to` for a rename. */
  readonly type?: string;
}

/** What {@link expandColumn} is asked to do. */
export interface ExpandColumnSpec {
  /** `table`, resolved in the migration set's schema, or `schema.table`. */
  readonly table: string;
  /** The primary key the backfill walks (default `['id']`). */
  readonly key?: readonly string[];
  /** The column old code reads and writes; `type` is required (contract's `down` re-creates it). */
  readonly from: ColumnShape & { readonly type: string };
  /** The column new code reads and writes; `type` defaults to `from.type`. */
  readonly to: ColumnShape;
  /** old → new; omitted for a rename (identity). Must preserve NULL-ness; NULL is never converted. */
  readonly convert?: ColumnConversion;
  /** new → old; required whenever `convert` is given. */
  readonly convertBack?: ColumnConversion;
  /** Build an index on the new column with `CREATE INDEX CONCURRENTLY` during expand. */
  readonly index?: boolean | { readonly name?: string; readonly where?: string };
  /** Pacing of the backfills (expand's, and contract's `down`). */
  readonly backfill?: { readonly batchSize?: number; readonly rowsPerSecond?: number; readonly pauseMs?: number };
}

/** A validated {@link ExpandColumnSpec} with every default filled in and every derived name fixed. */
export interface ColumnChange {
  /** `undefined` when the table is resolved in the migration set's schema. */
  readonly schema: string | undefined;
  readonly table: string;
  readonly key: readonly string[];
  readonly from: { readonly column: string; readonly type: string };
  readonly to: { readonly column: string; readonly type: string };
  readonly convert: ColumnConversion;
  readonly convertBack: ColumnConversion;
  /**
   * The trigger's and its function's name. Functions are per schema, so two
   * expands whose table and column names join to the same text (`a_b` + `c`,
   * `a` + `b_c`) would share it: the second fails loudly (42723, function
   * exists) and changes nothing. Not renamed: it is part of applied checksums.
   */
  readonly syncName: string;
  readonly index: { readonly name: string; readonly where?: string } | undefined;
  readonly backfill: NonNullable<ExpandColumnSpec['backfill']>;
}

/**
 * A SQL type name as DDL accepts it unquoted. Types are interpolated into
 * DDL like identifiers, so they are checked rather than escaped.
 */
const SQL_TYPE = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?( [a-z_][a-z0-9_]*)*( ?\( ?\d+ ?(, ?\d+ ?)?\))?( with(out)? time zone)?(\[\])*$/;

/**
 * The words a multi-word type name may have after its first
 * (`double precision`, `character varying`, `timestamp with time zone`,
 * `interval day to second`). Any other word is not part of a type but of a
 * column definition (`not null`, `references users`, `generated always as
 * identity`), which would change what expand's ADD COLUMN does.
 */
const TYPE_WORDS = new Set(['precision', 'varying', 'character', 'with', 'without', 'time', 'zone', 'year', 'month', 'day', 'hour', 'minute', 'second', 'to']);

function configError(field: string, message: string): ChatkeepError {
  return new ChatkeepError('CK_CONFIG', `${field}: ${message}`, { field });
}

function sqlType(field: string, value: unknown): string {
  const normalized = typeof value === 'string' ? value.trim().toLowerCase().replace(/\s+/g, ' ') : value;
  const words = typeof normalized === 'string' ? normalized.replace(/\(.*\)|\[\]/g, ' ').split(' ').filter((w) => w !== '') : [];
  if (typeof normalized !== 'string' || !SQL_TYPE.test(normalized) || !words.slice(1).every((w) => TYPE_WORDS.has(w))) {
    throw configError(field, `expected a SQL type such as "text" or "numeric(10,2)", got ${JSON.stringify(value)}`);
  }
  return normalized;
}

function conversion(field: string, value: unknown): ColumnConversion {
  if (typeof value !== 'function') throw configError(field, 'expected a function (value) => SQL expression');
  const probe = '"__ck_probe__"';
  const out: unknown = (value as ColumnConversion)(probe);
  // An expression that ignores its input would overwrite every row with a constant.
  if (typeof out !== 'string' || !out.includes(probe)) {
    throw configError(field, 'must return a SQL expression that uses its argument');
  }
  return value as ColumnConversion;
}

/**
 * The backfills' pacing, checked here like the rest of the spec: a value the
 * backfill cannot run with would otherwise surface only after expand's first
 * phase (the column and the trigger) has committed, as a SQL error.
 */
function pacing(value: unknown): NonNullable<ExpandColumnSpec['backfill']> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw configError('expandColumn.backfill', 'expected { batchSize?, rowsPerSecond?, pauseMs? }');
  const { batchSize, rowsPerSecond, pauseMs } = value as Record<string, unknown>;
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (batchSize !== undefined && !(finite(batchSize) && Number.isInteger(batchSize) && batchSize > 0)) {
    throw configError('expandColumn.backfill.batchSize', `expected a positive integer, got ${JSON.stringify(batchSize)}`);
  }
  if (rowsPerSecond !== undefined && !(finite(rowsPerSecond) && rowsPerSecond > 0)) {
    throw configError('expandColumn.backfill.rowsPerSecond', `expected a positive number, got ${JSON.stringify(rowsPerSecond)}`);
  }
  if (pauseMs !== undefined && !(finite(pauseMs) && pauseMs >= 0)) {
    throw configError('expandColumn.backfill.pauseMs', `expected a number of milliseconds >= 0, got ${JSON.stringify(pauseMs)}`);
  }
  return value as NonNullable<ExpandColumnSpec['backfill']>;
}

/** A deterministic name of at most 63 bytes: `base`, or its prefix and a hash when too long. */
export function boundedName(base: string): string {
  if (base.length <= 63) return base;
  return `${base.slice(0, 54)}_${createHash('sha256').update(base).digest('hex').slice(0, 8)}`;
}

/** Validates a spec; throws CK_CONFIG naming the offending field (`expandColumn.from.column`, …). */
export function columnChange(spec: ExpandColumnSpec): ColumnChange {
  const f = (name: string) => `expandColumn.${name}`;
  if (typeof spec !== 'object' || spec === null) throw configError('expandColumn', 'expected an options object');
  if (typeof spec.table !== 'string') throw configError(f('table'), `expected "table" or "schema.table", got ${JSON.stringify(spec.table)}`);
  const parts = spec.table.split('.');
  if (parts.length > 2) throw configError(f('table'), `expected "table" or "schema.table", got ${JSON.stringify(spec.table)}`);
  const schema = parts.length === 2 ? assertIdentifier(f('table'), parts[0]) : undefined;
  const table = assertIdentifier(f('table'), parts[parts.length - 1]);
  const key = spec.key ?? ['id'];
  if (!Array.isArray(key) || key.length === 0) throw configError(f('key'), 'expected a non-empty list of column names');
  key.forEach((k, i) => assertIdentifier(f(`key[${i}]`), k));
  if (typeof spec.from !== 'object' || spec.from === null) throw configError(f('from'), 'expected { column, type }');
  if (typeof spec.to !== 'object' || spec.to === null) throw configError(f('to'), 'expected { column, type? }');
  const fromColumn = assertIdentifier(f('from.column'), spec.from.column);
  const toColumn = assertIdentifier(f('to.column'), spec.to.column);
  if (fromColumn === toColumn) throw configError(f('to.column'), 'must differ from from.column');
  if (key.includes(fromColumn) || key.includes(toColumn)) throw configError(f('key'), 'the key cannot be the column being changed');
  const fromType = sqlType(f('from.type'), spec.from.type);
  const toType = spec.to.type === undefined ? fromType : sqlType(f('to.type'), spec.to.type);
  let convert: ColumnConversion = (v) => v;
  let convertBack: ColumnConversion = (v) => v;
  if (spec.convert !== undefined || spec.convertBack !== undefined) {
    // Both directions or neither: old code keeps writing during the whole
    // transition, and so does new code, so each side must be derivable.
    convert = conversion(f('convert'), spec.convert);
    convertBack = conversion(f('convertBack'), spec.convertBack);
  } else if (canonicalType(toType) !== canonicalType(fromType)) {
    throw configError(f('convert'), `the type changes (${fromType} → ${toType}): convert and convertBack are required`);
  }
  let index: ColumnChange['index'];
  if (spec.index !== undefined && spec.index !== false) {
    const options = spec.index === true ? {} : spec.index;
    const name = options.name === undefined ? boundedName(`${table}_${toColumn}_idx`) : assertIdentifier(f('index.name'), options.name);
    if (options.where !== undefined && (typeof options.where !== 'string' || options.where.trim() === '')) {
      throw configError(f('index.where'), 'expected a non-empty SQL predicate');
    }
    index = options.where === undefined ? { name } : { name, where: options.where };
  }
  return {
    schema,
    table,
    key,
    from: { column: fromColumn, type: fromType },
    to: { column: toColumn, type: toType },
    convert,
    convertBack,
    syncName: boundedName(`ck_sync_${table}_${fromColumn}_${toColumn}`),
    index,
    backfill: pacing(spec.backfill),
  };
}
