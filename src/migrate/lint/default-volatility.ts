import type { Token } from './tokenize.js';

/**
 * Functions PostgreSQL marks VOLATILE (`pg_proc.provolatile = 'v'`) that
 * migrations use as defaults. Since PostgreSQL 11, `ADD COLUMN … DEFAULT x`
 * stores a non-volatile default once in the catalogue (`attmissingval`) and
 * rewrites nothing; a volatile default must be evaluated per row, so the
 * table is rewritten under ACCESS EXCLUSIVE (ALTER TABLE manual, "Notes").
 */
const VOLATILE = new Set([
  'random', 'random_normal', 'setseed', 'clock_timestamp', 'timeofday', 'gen_random_uuid', 'uuidv4', 'uuidv7',
  'uuid_generate_v1', 'uuid_generate_v1mc', 'uuid_generate_v4', 'nextval', 'setval', 'txid_current',
]);

/** STABLE or IMMUTABLE functions common in defaults: evaluated once, no rewrite. */
const NON_VOLATILE = new Set([
  'now', 'transaction_timestamp', 'statement_timestamp', 'current_setting', 'coalesce', 'nullif', 'greatest', 'least',
  'lower', 'upper', 'left', 'right', 'concat', 'length', 'char_length', 'to_jsonb', 'to_json', 'jsonb_build_object',
  'jsonb_build_array', 'json_build_object', 'json_build_array', 'array', 'row', 'cast', 'make_interval', 'make_date',
  'date_trunc', 'to_timestamp', 'abs', 'round', 'array_fill', 'md5',
]);

/** Serial types are integer columns whose default is `nextval(…)`: volatile. */
const SERIAL_TYPES = new Set(['serial', 'bigserial', 'smallserial', 'serial2', 'serial4', 'serial8']);

export interface DefaultVolatility {
  readonly kind: 'non-volatile' | 'volatile' | 'unknown';
  /** The function (or type) that decided it, for the message. */
  readonly cause?: string;
}

/** Judges a column default (and its type, for serials) the way PostgreSQL decides on a rewrite. */
export function defaultVolatility(expr: readonly Token[] | undefined, dataType: readonly Token[]): DefaultVolatility {
  // Quoted names count too: PostgreSQL compares the serial type name and
  // looks up functions after unquoting, so `"serial"` is a serial and
  // `"gen_random_uuid"()` the volatile function.
  const serial = dataType.find((t) => isName(t) && SERIAL_TYPES.has(t.value));
  if (serial !== undefined) return { kind: 'volatile', cause: `${serial.value} (nextval)` };
  const calls = (expr ?? []).flatMap((t, k, all) =>
    isName(t) && all[k + 1]?.value === '(' && all[k + 1]?.kind === 'op' && !isTypeName(all, k) ? [t.value] : [],
  );
  const volatile = calls.find((c) => VOLATILE.has(c));
  if (volatile !== undefined) return { kind: 'volatile', cause: `${volatile}()` };
  const unknown = calls.find((c) => !NON_VOLATILE.has(c));
  if (unknown !== undefined) return { kind: 'unknown', cause: `${unknown}()` };
  return { kind: 'non-volatile' };
}

/**
 * Whether the word at `k` (followed by a parenthesis) names a type with a
 * modifier rather than a function: `0::numeric(10,2)`, `'x'::character
 * varying(20)`, `cast(x as varchar(20))`. A type name of up to three words
 * follows `::` or `as`.
 */
function isTypeName(tokens: readonly Token[], k: number): boolean {
  for (let j = k - 1; j >= Math.max(0, k - 3); j--) {
    const token = tokens[j]!;
    if (token.value === '::' || (token.kind === 'word' && token.value === 'as')) return true;
    if (token.kind !== 'word') return false;
  }
  return false;
}

/** A name, quoted or not (a keyword is never quoted, a function or type name may be). */
function isName(token: Token): boolean {
  return token.kind === 'word' || token.kind === 'ident';
}
