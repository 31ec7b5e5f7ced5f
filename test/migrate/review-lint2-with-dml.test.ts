import { describe, expect, it } from 'vitest';
import { lintStatements, type RunnerSettings } from '../../src/migrate/lint/index.js';

const TX: RunnerSettings = { transactional: true, lockTimeout: '5s', statementTimeout: '5min' };
const POPULATED = { tableRows: () => 50_000 };
const backfills = (sql: string[]) => lintStatements(sql, TX, POPULATED).findings.filter((f) => f.rule === 'unbatched-backfill');

describe('review 2: UPDATE/DELETE inside a WITH is a backfill like a bare one', () => {
  it('an UPDATE in a WITH query', () => {
    const [f] = backfills(['with x as (update app.notes set body = lower(body) returning 1) select count(*) from x']);
    expect(f?.severity).toBe('warning');
    expect(f?.message).toContain('UPDATE on app.notes (~50,000 rows) without WHERE');
  });

  it('a DELETE as the main statement of a WITH, under an earlier DDL lock', () => {
    const found = backfills([
      'alter table app.notes add column mood text',
      'with old as materialized (select id from app.notes where id < 10) delete from app.notes using old where notes.id = old.id',
    ]);
    expect(found.map((f) => [f.severity, f.statementIndex])).toEqual([['error', 1]]);
    expect(found[0]!.message).toContain('DELETE on app.notes');
  });

  it('every write of a WITH, nested ones included; a read-only WITH is no backfill', () => {
    const found = backfills([
      'with recursive a (n) as (delete from app.a where true returning 1), b as (with c as (update app.c set x = 1 returning 1) select * from c) update app.d set y = 2 where y is null',
    ]);
    expect(found.map((f) => f.message.split(' (')[0])).toEqual(['DELETE on app.a', 'UPDATE on app.c', 'UPDATE on app.d']);
    expect(backfills(['with x as (select 1) select * from x'])).toEqual([]);
  });
});
