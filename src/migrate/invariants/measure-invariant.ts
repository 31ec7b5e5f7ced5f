import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Invariant } from './invariant.js';

/** `schema.table` (validated by renderInvariants) as a quoted identifier. */
function table(qualified: string) {
  const [schema, name] = qualified.split('.') as [string, string];
  return sql.id(schema, name);
}

/**
 * Measures what an invariant is about, as a string that is stored between
 * runs (jsonb) and compared: a count (bigint as text, so it survives JSON),
 * a checksum, or a check's first value. Runs on `db` as is; the caller
 * provides the scope (savepoint or transaction) and the timeouts.
 */
export async function measureInvariant(db: Kysely<any>, invariant: Invariant): Promise<string> {
  switch (invariant.kind) {
    case 'row-count-preserved': {
      const { rows } = await sql<{ n: string }>`select count(*)::text as n from ${table(invariant.table)}`.execute(db);
      return rows[0]!.n;
    }
    case 'not-null': {
      const { rows } = await sql<{ n: string }>`
        select count(*)::text as n from ${table(invariant.table)} where ${sql.id(invariant.column)} is null`.execute(db);
      return rows[0]!.n;
    }
    case 'no-orphans': {
      const child = invariant.childColumns.map((c) => sql`c.${sql.id(c)}`);
      const joined = invariant.childColumns.map((c, i) => sql`p.${sql.id(invariant.parentColumns[i]!)} = c.${sql.id(c)}`);
      const { rows } = await sql<{ n: string }>`
        select count(*)::text as n from ${table(invariant.childTable)} c
         where ${sql.join(child.map((c) => sql`${c} is not null`), sql` and `)}
           and not exists (select 1 from ${table(invariant.parentTable)} p where ${sql.join(joined, sql` and `)})`.execute(db);
      return rows[0]!.n;
    }
    case 'table-checksum':
      return tableDigest(db, invariant.table);
    case 'check': {
      const { rows } = await sql.raw<Record<string, unknown>>(invariant.query).execute(db);
      const first = rows[0] === undefined ? undefined : Object.values(rows[0])[0];
      // Only a real boolean counts; anything else is described by its type,
      // never its value (it may be row data).
      if (typeof first === 'boolean') return String(first);
      return rows.length === 0 ? 'no row' : first === null || first === undefined ? 'null' : `not a boolean (${typeof first})`;
    }
  }
}

/**
 * `<rows>:<digest>` of a table's rows. Each row's text is hashed (md5) and
 * the two 64-bit halves of the hashes are summed as numerics: an
 * order-independent multiset digest computed in one streaming pass — no
 * sort, no primary key needed, and no `string_agg` of the whole table
 * (which PostgreSQL caps at 1 GB). Row text depends on session settings
 * (TimeZone, DateStyle, float digits), and a resumed run may compare with a
 * value another session measured, so they are pinned for the query. The
 * row is `(t.*)`, not a bare `t`, which would be the column of a table that
 * has one named `t` (columns win over the table alias); both render the same
 * text otherwise, so before-values stored by earlier versions still compare.
 */
async function tableDigest(db: Kysely<any>, qualified: string): Promise<string> {
  await sql`
    select set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
           set_config('IntervalStyle', 'postgres', true), set_config('extra_float_digits', '1', true),
           set_config('bytea_output', 'hex', true)`.execute(db);
  const { rows } = await sql<{ n: string; a: string; b: string }>`
    select count(*)::text as n,
           coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text as a,
           coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text as b
      from (select md5((t.*)::text) as h from ${table(qualified)} t) s`.execute(db);
  const { n, a, b } = rows[0]!;
  return `${n}:${createHash('sha256').update(`${n}:${a}:${b}`).digest('hex').slice(0, 16)}`;
}

/** Whether `after` keeps the promise, and both sides as short readable values. */
export function judgeInvariant(
  invariant: Invariant,
  before: string | undefined,
  after: string,
): { readonly passed: boolean; readonly expected: string; readonly observed: string } {
  switch (invariant.kind) {
    case 'row-count-preserved': {
      const was = BigInt(before ?? '0');
      const now = BigInt(after);
      return {
        passed: invariant.allowGrowth ? now >= was : now === was,
        expected: `${invariant.allowGrowth ? 'at least ' : ''}${rows(was)} (as before up)`,
        observed: rows(now),
      };
    }
    case 'not-null':
      return { passed: after === '0', expected: '0 NULLs', observed: `${count(BigInt(after))} NULL${after === '1' ? '' : 's'}` };
    case 'no-orphans':
      return { passed: after === '0', expected: '0 orphan rows', observed: `${count(BigInt(after))} orphan row${after === '1' ? '' : 's'}` };
    case 'table-checksum':
      return { passed: after === before, expected: `${digest(before ?? '')} (as before up)`, observed: digest(after) };
    case 'check':
      return { passed: after === 'true', expected: 'true', observed: after };
  }
}

function count(n: bigint): string {
  return n.toLocaleString('en-US');
}

function rows(n: bigint): string {
  return `${count(n)} row${n === 1n ? '' : 's'}`;
}

function digest(value: string): string {
  const [n, hash] = value.split(':');
  return `${rows(BigInt(n ?? '0'))}, digest ${hash ?? '?'}`;
}
