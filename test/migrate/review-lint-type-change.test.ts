import { describe, expect, it } from 'vitest';
import { lintStatements, type LintOptions, type RunnerSettings } from '../../src/migrate/lint/index.js';
import { PG_AVAILABLE } from '../support/backends.js';
import { usePgClient } from '../support/pg-client-fixture.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
const TYPES: Readonly<Record<string, string>> = { body: 'text', title: 'character varying(100)' };
const OPTIONS: LintOptions = { tableRows: () => 1_000_000, columnType: (_t, c) => TYPES[c] };

const findingsOf = (statement: string) => lintStatements([statement], TX, OPTIONS).findings.filter((f) => f.rule === 'alter-column-type');

describe('review: ALTER COLUMN … TYPE with COLLATE', () => {
  it('a widening that also sets a collation is flagged: every index on the column is rebuilt under ACCESS EXCLUSIVE', () => {
    for (const statement of [
      'alter table app.notes alter column body type text collate "C"',
      'alter table app.notes alter column title type varchar(200) collate "C"',
    ]) {
      const [finding] = findingsOf(statement);
      expect(finding?.severity, statement).toBe('error');
      expect(finding?.message).toMatch(/COLLATE/);
      expect(finding?.message).toMatch(/index/);
    }
  });

  it('the same widening without COLLATE still gets no finding', () => {
    expect(findingsOf('alter table app.notes alter column title type varchar(200)')).toEqual([]);
    expect(findingsOf('alter table app.notes alter column body type text')).toEqual([]);
  });
});

describe.skipIf(!PG_AVAILABLE)('review: COLLATE on a type change, on real PostgreSQL', () => {
  const pgClient = usePgClient();

  it('text → text COLLATE "C" keeps the table but rebuilds its index', async () => {
    await pgClient().query('create table public.coll (id int, body text)');
    await pgClient().query('create index coll_body_idx on public.coll (body)');
    await pgClient().query(`insert into public.coll select g, g::text from generate_series(1, 1000) g`);
    const filenode = async (rel: string) =>
      (await pgClient().query<{ f: string }>(`select relfilenode::text as f from pg_class where oid = '${rel}'::regclass`)).rows[0]!.f;
    const [table, index] = [await filenode('public.coll'), await filenode('public.coll_body_idx')];
    await pgClient().query('alter table public.coll alter column body type text collate "C"');
    expect(await filenode('public.coll')).toBe(table);
    expect(await filenode('public.coll_body_idx')).not.toBe(index);
  });
});
