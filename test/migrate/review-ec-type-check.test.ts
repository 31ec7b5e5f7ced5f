import { describe, expect, it } from 'vitest';
import { expandColumn, type ExpandColumnSpec } from '../../src/migrate/expand-contract/index.js';

/**
 * Column types are interpolated into DDL (`add column "price" <type>`) and
 * into casts, so they are checked, not escaped. The check must let through
 * type names only: a "type" that carries a column constraint, a default or
 * an identity clause would change what expand's ADD COLUMN does (a NOT NULL
 * column fails on a populated table; an identity column rewrites it under
 * an exclusive lock; REFERENCES adds a foreign key) and would fail only
 * later, in the casts, once the first phase has committed. The refusals are
 * in expand-contract.test.ts's table of invalid specs; these are the real
 * multi-word type names the check must keep letting through.
 */
const base: ExpandColumnSpec = {
  table: 'products',
  from: { column: 'price_cents', type: 'integer' },
  to: { column: 'price', type: 'numeric(10,2)' },
  convert: (v) => `${v} / 100.0`,
  convertBack: (v) => `round(${v} * 100)`,
};

describe('expandColumn: type names of several words still pass the type check', () => {
  it.each([
    'double precision',
    'character varying(20)',
    'bit varying(8)',
    'timestamp(3) with time zone',
    'time without time zone',
    'interval day to second',
    'interval year',
    'numeric(10, 2)',
    'text[]',
    'public.money_amount',
    'integer[][]',
  ])('accepts %s', (type) => {
    expect(() => expandColumn({ ...base, to: { column: 'price', type } })).not.toThrow();
  });
});
