import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Migrator, type Migration } from '../../src/migrate/index.js';
import { lintStatements, type RunnerSettings } from '../../src/migrate/lint/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
const POPULATED = { tableRows: () => 50_000 };
const lint = (sql: string[], options: Parameters<typeof lintStatements>[2] = POPULATED) =>
  lintStatements(sql, TX, options).findings.map((f) => [f.rule, f.severity, f.message] as const);

describe('review 2: ATTACH PARTITION, ALTER DOMAIN and ADD COLUMN of a domain', () => {
  it('ATTACH PARTITION scans the partition under ACCESS EXCLUSIVE; the parent is not locked against writes', () => {
    const found = lint(["alter table app.events attach partition app.events_2024 for values from ('2024-01-01') to ('2025-01-01')"]);
    const check = found.filter(([rule]) => rule === 'add-check-without-not-valid');
    expect(check.map(([, severity]) => severity)).toEqual(['error']);
    expect(check[0]![2]).toContain('ATTACH PARTITION app.events_2024 (~50,000 rows) to app.events');
    // The lock is on the partition (ACCESS EXCLUSIVE), not on the parent (SHARE UPDATE EXCLUSIVE, PostgreSQL ≥ 12).
    const locks = lint(["alter table app.events attach partition app.events_2024 for values from ('2024-01-01') to ('2025-01-01')"], { tableRows: () => 50_000 });
    expect(locks.filter(([rule]) => rule === 'multiple-tables-locked')).toEqual([]);
    const after = lint(['alter table app.events attach partition app.p1 for values in (1)', 'alter table app.events add column x int']);
    expect(after.filter(([rule]) => rule === 'multiple-tables-locked').map(([, , m]) => m.split(' while')[0])).toEqual(['Locks app.events (ACCESS EXCLUSIVE)']);
    // A partition created in this migration is scanned unseen: no finding.
    expect(lint(['create table app.p2 (id int, k int)', 'alter table app.events attach partition app.p2 for values in (2)']).filter(([r]) => r === 'add-check-without-not-valid')).toEqual([]);
  });

  it('ALTER DOMAIN ADD CONSTRAINT / VALIDATE / SET NOT NULL warn; NOT VALID, or a domain created here, does not', () => {
    const rules = (s: string[]) => lint(s).filter(([r]) => r === 'add-check-without-not-valid').map(([, severity]) => severity);
    expect(rules(['alter domain app.positive add constraint positive_chk check (value > 0)'])).toEqual(['warning']);
    expect(rules(['alter domain app.positive validate constraint positive_chk'])).toEqual(['warning']);
    expect(rules(['alter domain app.positive set not null'])).toEqual(['warning']);
    expect(rules(['alter domain app.positive add constraint positive_chk check (value > 0) not valid'])).toEqual([]);
    expect(rules(['create domain app.positive as int', 'alter domain app.positive add constraint c check (value > 0)'])).toEqual([]);
  });

  it('ADD COLUMN of a constrained domain is a rewrite; of an unknown non-built-in type, an info; of a built-in type, nothing', () => {
    const rewrite = (s: string[], options = POPULATED as Parameters<typeof lintStatements>[2]) =>
      lint(s, options).filter(([r]) => r === 'add-column-rewrite').map(([, severity]) => severity);
    expect(rewrite(['create domain app.positive as int check (value > 0)', 'alter table app.notes add column n app.positive'])).toEqual(['error']);
    expect(rewrite(['create domain app.plain as int', 'alter table app.notes add column n app.plain'])).toEqual([]);
    expect(rewrite(['create type app.mood as enum (\'a\')', 'alter table app.notes add column n app.mood'])).toEqual([]);
    expect(rewrite(['alter table app.notes add column n mood'])).toEqual(['info']);
    expect(rewrite(['alter table app.notes add column n mood'], { ...POPULATED, constrainedDomain: () => true })).toEqual(['error']);
    expect(rewrite(['alter table app.notes add column n mood'], { ...POPULATED, constrainedDomain: () => false })).toEqual([]);
    for (const type of ['int', 'text', 'character varying(20)', 'timestamp with time zone', 'double precision', 'numeric(10,2)', 'jsonb', 'uuid', 'bigint', 'pg_catalog.int4', 'mood[]']) {
      expect(rewrite([`alter table app.notes add column n ${type}`]), type).toEqual([]);
    }
  });
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: review 2: Migrator.lint knows which types are constrained domains`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('ADD COLUMN of an existing constrained domain is an error (PostgreSQL rewrites the table), of an enum nothing', async () => {
      const db = scratch.database.db;
      const schema = 'rvl2_domain';
      await sql.raw(`create schema ${schema}`).execute(db);
      await sql.raw(`create domain ${schema}.positive as int check (value > 0)`).execute(db);
      await sql.raw(`create type ${schema}.mood as enum ('a', 'b')`).execute(db);
      await sql.raw(`create table ${schema}.notes (id int)`).execute(db);
      await sql.raw(`insert into ${schema}.notes select g from generate_series(1, 2000) g`).execute(db);
      await sql.raw(`analyze ${schema}.notes`).execute(db);
      const filenode = async () => (await sql.raw<{ f: string }>(`select relfilenode::text as f from pg_class where oid = '${schema}.notes'::regclass`).execute(db)).rows[0]!.f;
      const migrations: Migration[] = [
        { version: 1, name: 'positive', up: ({ schema: s }) => [`alter table ${s}.notes add column n ${s}.positive`], down: ({ schema: s }) => [`alter table ${s}.notes drop column n`] },
        { version: 2, name: 'mood', up: ({ schema: s }) => [`alter table ${s}.notes add column m ${s}.mood`], down: ({ schema: s }) => [`alter table ${s}.notes drop column m`] },
      ];
      const linted = await new Migrator({ db, schema, migrations }).lint({ direction: 'up' });
      const rewrite = (v: number) => linted.find((l) => l.version === v)!.report.findings.filter((f) => f.rule === 'add-column-rewrite').map((f) => f.severity);
      expect(rewrite(1)).toEqual(['error']);
      expect(rewrite(2)).toEqual([]);
      // What the lint claims, on the server: the domain column rewrites the table, the enum column does not.
      const before = await filenode();
      await sql.raw(`alter table ${schema}.notes add column m ${schema}.mood`).execute(db);
      expect(await filenode()).toBe(before);
      await sql.raw(`alter table ${schema}.notes add column n ${schema}.positive`).execute(db);
      expect(await filenode()).not.toBe(before);
    });
  });
}
