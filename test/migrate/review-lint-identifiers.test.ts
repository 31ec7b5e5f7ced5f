import { describe, expect, it } from 'vitest';
import { lintStatements, type LintOptions, type RunnerSettings } from '../../src/migrate/lint/index.js';
import { PG_AVAILABLE } from '../support/backends.js';
import { usePgClient } from '../support/pg-client-fixture.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };

/** The lint's findings for `statement` when only `table` exists, with a million rows. */
const rulesOn = (table: string, statement: string) => {
  const options: LintOptions = { tableRows: (t) => (t === table ? 1_000_000 : undefined) };
  return lintStatements([statement], TX, options).findings.map((f) => `${f.rule}:${f.severity}`);
};

describe('review: table names are resolved the way PostgreSQL resolves identifiers', () => {
  it('U&"…" identifiers are decoded (U&"\\0061pp" is app)', () => {
    expect(rulesOn('app.notes', 'create index notes_body_idx on U&"\\0061pp".notes (body)')).toContain('add-index-non-concurrent:error');
    expect(rulesOn('app.notes', `create index notes_body_idx on U&"!0061pp" uescape '!'.notes (body)`)).toContain(
      'add-index-non-concurrent:error',
    );
    expect(rulesOn('app.notes', 'create index notes_body_idx on app.U&"\\+00006Eotes" (body)')).toContain('add-index-non-concurrent:error');
  });

  it('only ASCII letters of an unquoted name are down-cased (UTF-8 database): NOTÉS is notÉs', () => {
    expect(rulesOn('app.notÉs', 'create index i on app.NOTÉS (body)')).toContain('add-index-non-concurrent:error');
  });

  it('names longer than 63 bytes are truncated, as PostgreSQL does (NAMEDATALEN)', () => {
    const long = 'n'.repeat(70);
    expect(rulesOn(`app.${'n'.repeat(63)}`, `create index i on app.${long} (body)`)).toContain('add-index-non-concurrent:error');
    // Truncation never splits a multi-byte character: 31 × 'é' (2 bytes) = 62 bytes.
    expect(rulesOn(`app.${'é'.repeat(31)}`, `create index i on app."${'é'.repeat(40)}" (body)`)).toContain('add-index-non-concurrent:error');
  });
});

describe('review: a quoted function or type name does not hide a per-row default', () => {
  it('DEFAULT "gen_random_uuid"() is volatile', () => {
    expect(rulesOn('app.notes', 'alter table app.notes add column token uuid default "gen_random_uuid"()')).toContain('add-column-rewrite:error');
    expect(rulesOn('app.notes', 'alter table app.notes add column token uuid default pg_catalog."random"()')).toContain('add-column-rewrite:error');
  });

  it('a "serial" column is a serial', () => {
    expect(rulesOn('app.notes', 'alter table app.notes add column n "serial"')).toContain('add-column-rewrite:error');
  });
});

describe.skipIf(!PG_AVAILABLE)('review: the identifier and default claims above, on real PostgreSQL', () => {
  const pgClient = usePgClient();

  it('U&, non-ASCII upper case and long names resolve to the names the lint now uses', async () => {
    await pgClient().query(`create table public.U&"\\0061pp" (id int)`);
    await pgClient().query('create table public.NOTÉS (id int)');
    await pgClient().query(`create table public.${'n'.repeat(70)} (id int)`);
    const { rows } = await pgClient().query<{ relname: string }>(
      `select relname from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' order by relname`,
    );
    expect(rows.map((r) => r.relname)).toEqual(expect.arrayContaining(['app', 'notÉs', 'n'.repeat(63)]));
  });

  it('DEFAULT "gen_random_uuid"() and a "serial" column rewrite the table', async () => {
    await pgClient().query('create table public.rw (id int)');
    await pgClient().query('insert into public.rw select generate_series(1, 100)');
    const filenode = async () => (await pgClient().query<{ f: string }>(`select relfilenode::text as f from pg_class where oid = 'public.rw'::regclass`)).rows[0]!.f;
    for (const alter of ['add column token uuid default "gen_random_uuid"()', 'add column n "serial"']) {
      const before = await filenode();
      await pgClient().query(`alter table public.rw ${alter}`);
      expect(await filenode(), alter).not.toBe(before);
    }
  });
});
