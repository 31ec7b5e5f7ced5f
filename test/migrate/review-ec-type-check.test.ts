import { describe, expect, it } from 'vitest';
import { ChatkeepError } from '../../src/errors/index.js';
import { expandColumn, type ExpandColumnSpec } from '../../src/migrate/expand-contract/index.js';

/**
 * Column types are interpolated into DDL (`add column "price" <type>`) and
 * into casts, so they are checked, not escaped. The check must let through
 * type names only: a "type" that carries a column constraint, a default or
 * an identity clause would change what expand's ADD COLUMN does (a NOT NULL
 * column fails on a populated table; an identity column rewrites it under
 * an exclusive lock; REFERENCES adds a foreign key) and would fail only
 * later, in the casts, once the first phase has committed.
 */
const base: ExpandColumnSpec = {
  table: 'products',
  from: { column: 'price_cents', type: 'integer' },
  to: { column: 'price', type: 'numeric(10,2)' },
  convert: (v) => `${v} / 100.0`,
  convertBack: (v) => `round(${v} * 100)`,
};

describe('expandColumn: types are type names, nothing more', () => {
  it.each([
    ['an identity clause', { to: { column: 'price', type: 'integer generated always as identity' } }, 'expandColumn.to.type'],
    ['a foreign key', { to: { column: 'price', type: 'bigint references users' } }, 'expandColumn.to.type'],
    ['a NOT NULL constraint', { to: { column: 'price', type: 'numeric not null' } }, 'expandColumn.to.type'],
    ['a primary key on the old side', { from: { column: 'price_cents', type: 'integer primary key' } }, 'expandColumn.from.type'],
    ['a check constraint', { to: { column: 'price', type: 'integer check (1)' } }, 'expandColumn.to.type'],
  ] as const)('refuses a type with %s, with CK_CONFIG naming the field', (_label, patch, field) => {
    let thrown: unknown;
    try {
      expandColumn({ ...base, ...patch } as ExpandColumnSpec);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ChatkeepError);
    expect((thrown as ChatkeepError).details).toMatchObject({ field });
  });

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
