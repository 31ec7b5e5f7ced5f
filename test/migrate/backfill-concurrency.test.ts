import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { BackfillLedger } from '../../src/migrate/backfill-ledger.js';
import { Migrator, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, processTarget, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { killAfter, runScript } from '../support/child-runner.js';
import { itemsMigrations, seedItems } from './fixtures/phased-migrations.js';
import { migrateUninterrupted } from './fixtures/uninterrupted-items.js';

/**
 * A backfill with `concurrency` > 1 (issue 4, backfill ≥ 100,000 rows/s):
 * several workers update disjoint key ranges at once, and the journal still
 * only records positions that every earlier range has reached, so a kill at
 * any moment resumes without skipping a row.
 */
const runner = fileURLToPath(new URL('./fixtures/run-phased.ts', import.meta.url));

/** Records, for every row a backfill updates, the backend that updated it. */
async function recordUpdaters(db: Kysely<any>, schema: string): Promise<() => Promise<number>> {
  for (const statement of [
    `create table ${schema}.updaters (pid int not null)`,
    `create function ${schema}.record_updater() returns trigger language plpgsql as $$
       begin insert into ${schema}.updaters values (pg_backend_pid()); return new; end $$`,
    `create trigger record_updater after update on ${schema}.items for each row execute function ${schema}.record_updater()`,
  ]) {
    await sql.raw(statement).execute(db);
  }
  return async () => {
    const { rows } = await sql<{ n: number | string }>`select count(distinct pid) as n from ${sql.table(`${schema}.updaters`)}`.execute(db);
    return Number(rows[0]?.n);
  };
}

async function itemsState(db: Kysely<any>, schema: string) {
  const { rows } = await sql<{ n: number | string; wrong: number | string; digest: string }>`
    select count(*) as n, count(*) filter (where slug is distinct from lower(replace(title, ' ', '-'))) as wrong,
           md5(string_agg(owner || ':' || id || ':' || coalesce(slug, '-'), ',' order by owner, id)) as digest
      from ${sql.table(`${schema}.items`)}`.execute(db);
  return { n: Number(rows[0]!.n), wrong: Number(rows[0]!.wrong), digest: rows[0]!.digest };
}

describe('BackfillLedger: the journal position never passes a range that has not committed', () => {
  it('a later range committing first does not move the position; the earlier one then moves it past both', () => {
    const ledger = new BackfillLedger(null);
    expect(ledger.progressWith(1, ['k200'], 10)).toEqual({ rows: 10 });
    ledger.committed(1, ['k200'], 10);
    expect(ledger.mark).toBeUndefined();
    expect(ledger.progressWith(0, ['k100'], 7)).toEqual({ lastKey: ['k200'], rows: 17 });
    ledger.committed(0, ['k100'], 7);
    expect([ledger.mark, ledger.rows]).toEqual([['k200'], 17]);
    ledger.committed(3, ['k400'], 1);
    expect(ledger.mark).toEqual(['k200']);
    ledger.committed(2, ['k300'], 1);
    expect([ledger.mark, ledger.rows]).toEqual([['k400'], 19]);
  });

  it('a resumed backfill starts from the journal, and an empty last range keeps the position', () => {
    const ledger = new BackfillLedger({ lastKey: ['k500'], rows: 500 });
    expect(ledger.progressWith(0, undefined, 0)).toEqual({ lastKey: ['k500'], rows: 500 });
    ledger.committed(0, undefined, 0);
    expect([ledger.mark, ledger.rows]).toEqual([['k500'], 500]);
  });

  it('journal writes are taken in turn', async () => {
    const ledger = new BackfillLedger(null);
    const order: string[] = [];
    const first = await ledger.lock();
    const second = ledger.lock().then((release) => {
      order.push('second');
      release();
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    order.push('first');
    first();
    await second;
    expect(order).toEqual(['first', 'second']);
  });
});

const [pglite, postgres] = BACKENDS;

describe.skipIf(postgres!.skip)('postgres: a backfill with several workers', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('postgres', (s) => (scratch = s));

  it('four workers on four backends update every row exactly once; progress only grows', async () => {
    const database = await openDatabase({ url: scratch.url!, poolSize: 5 });
    try {
      const db = database.db;
      const schema = 'backfill_workers';
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({ db, schema, migrations: itemsMigrations({ batchSize: 50, concurrency: 4 }), onEvent: (e) => events.push(e) });
      await migrator.up({ to: 1 });
      await sql.raw(seedItems(schema, 3000)).execute(db);
      const updaters = await recordUpdaters(db, schema);
      const [plan] = await migrator.plan({ direction: 'up' });
      expect(plan!.statements[1]).toContain('-- backfill in batches of 50, 4 at a time by (owner, id)');

      expect((await migrator.up()).error).toBeUndefined();
      expect(await itemsState(db, schema)).toMatchObject({ n: 3000, wrong: 0 });
      const { rows } = await sql<{ n: number | string; rows: number | string }>`
        select count(*) as rows, count(distinct pid) as n from ${sql.table(`${schema}.updaters`)}`.execute(db);
      expect(Number(rows[0]!.rows)).toBe(3000);
      expect(await updaters()).toBeGreaterThan(1);
      const done = events.filter((e) => e.type === 'backfill-progress').map((e) => e.rowsDone!);
      expect(done.at(-1)).toBe(3000);
      expect(done.every((n, i) => i === 0 || n > done[i - 1]!)).toBe(true);
      expect((await migrator.status()).inFlight).toEqual([]);
    } finally {
      await database.close();
    }
  });

  it('a pool too small for the workers asked for: the backfill goes on with the connections it gets', async () => {
    const database = await openDatabase({ url: scratch.url!, poolSize: 1 });
    try {
      const db = database.db;
      const schema = 'backfill_small_pool';
      const migrator = new Migrator({ db, schema, migrations: itemsMigrations({ batchSize: 100, concurrency: 4 }) });
      await migrator.up({ to: 1 });
      await sql.raw(seedItems(schema, 1000)).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      expect(await itemsState(db, schema)).toMatchObject({ n: 1000, wrong: 0 });
    } finally {
      await database.close();
    }
  });
});

describe.skipIf(postgres!.skip)('postgres: kill -9 during a backfill with three workers', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  const run = (target: string, schema: string, rate: number) => runScript(runner, [target, schema, String(rate), '3']);

  it('killed at random moments while ranges commit out of order, the next run skips no row', async () => {
    const target = await processTarget('postgres', cleanups);
    const schema = 'backfill_kill';
    const rows = 4000;
    const database = await openDatabase({ url: target });
    try {
      await new Migrator({ db: database.db, schema, migrations: itemsMigrations() }).up({ to: 1 });
      await sql.raw(seedItems(schema, rows)).execute(database.db);
      let progressed = 0;
      for (let attempt = 0; attempt < 4; attempt++) {
        const victim = run(target, schema, 3000);
        await killAfter(victim, '"type":"backfill-progress"', { jitter: 300 });
        progressed += victim.output().split('"type":"backfill-progress"').length - 1;
      }
      expect(progressed).toBeGreaterThan(0);
      const finisher = run(target, schema, 1_000_000);
      expect(await finisher.exited, finisher.output()).toBe(0);
      const state = await itemsState(database.db, schema);
      expect(state).toMatchObject({ n: rows, wrong: 0 });

      const control = 'backfill_control';
      await migrateUninterrupted(database.db, control, rows);
      expect((await itemsState(database.db, control)).digest).toBe(state.digest);
    } finally {
      await database.close();
    }
  });
});

describe.skipIf(pglite!.skip)('pglite: concurrency on the single session', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('pglite', (s) => (scratch = s));

  it('runs one batch at a time instead of waiting for a second session that never comes', async () => {
    const db = scratch.database.db;
    const schema = 'backfill_pglite';
    const migrator = new Migrator({ db, schema, migrations: itemsMigrations({ batchSize: 100, concurrency: 4 }) });
    await migrator.up({ to: 1 });
    await sql.raw(seedItems(schema, 1000)).execute(db);
    const updaters = await recordUpdaters(db, schema);
    expect((await migrator.up()).error).toBeUndefined();
    expect(await itemsState(db, schema)).toMatchObject({ n: 1000, wrong: 0 });
    expect(await updaters()).toBe(1);
  });
});

