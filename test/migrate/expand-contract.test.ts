import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ChatkeepError } from '../../src/errors/index.js';
import { expandColumn, type ExpandColumnSpec } from '../../src/migrate/expand-contract/index.js';
import { checksumOf, fingerprint, Migrator, type BackfillStep, type Migration, type MigrationEvent, type VerifyStep } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * Expand/contract with dual-write (R-MIG-6, issue 4): old code writes the
 * old column, new code the new one, and the trigger keeps them in sync.
 */
const products: Migration = {
  version: 1,
  name: 'products',
  up: ({ schema: s }) => [`create table ${s}.products (id bigint primary key, title text not null default '', price_cents integer)`],
  down: ({ schema: s }) => [`drop table ${s}.products`],
};

const rename = expandColumn({ table: 'products', from: { column: 'title', type: 'text' }, to: { column: 'name' } });

const priceSpec = {
  table: 'products',
  from: { column: 'price_cents', type: 'integer' },
  to: { column: 'price', type: 'numeric(10,2)' },
  convert: (cents) => `${cents} / 100.0`,
  convertBack: (price) => `round(${price} * 100)`,
  index: true,
} satisfies ExpandColumnSpec;
const reshape = expandColumn({ ...priceSpec, backfill: { batchSize: 100 } });
const NO_OLD_CODE = 'every instance of the test host reads and writes price only';

async function rows<T>(db: Kysely<any>, query: string): Promise<T[]> {
  return (await sql.raw<T>(query).execute(db)).rows;
}
async function one<T>(db: Kysely<any>, query: string): Promise<T> {
  return (await rows<T>(db, query))[0]!;
}
const seed = (s: string, n: number) =>
  `insert into ${s}.products (id, title, price_cents) select i, 'title ' || i, i from generate_series(1, ${n}) as i`;
const disagreeing = (s: string) =>
  `select count(*)::int as n from ${s}.products where price is distinct from price_cents / 100.0`;

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: expand/contract with dual-write`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('rename title → name: existing rows backfilled, writes through either column visible in the other', async () => {
      const db = scratch.database.db;
      const s = 'xc_rename';
      const migrator = new Migrator({ db, schema: s, migrations: [products, rename.expand(2, 'products-name')] });
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await sql.raw(seed(s, 250)).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      expect(await one(db, `select count(*)::int as n from ${s}.products where name is distinct from title`)).toEqual({ n: 0 });

      await sql.raw(`insert into ${s}.products (id, title) values (1001, 'old code')`).execute(db);
      // new code omits title: its default '' must not win over the explicit name
      await sql.raw(`insert into ${s}.products (id, name) values (1002, 'new code')`).execute(db);
      await sql.raw(`update ${s}.products set title = 'old edit' where id = 1`).execute(db);
      await sql.raw(`update ${s}.products set name = 'new edit' where id = 2`).execute(db);
      await sql.raw(`update ${s}.products set title = 'stale', name = 'both' where id = 3`).execute(db);
      await sql.raw(`update ${s}.products set price_cents = 0 where id = 4`).execute(db);
      expect(await rows(db, `select id::int, title, name from ${s}.products where id in (1, 2, 3, 4, 1001, 1002) order by id`)).toEqual([
        { id: 1, title: 'old edit', name: 'old edit' },
        { id: 2, title: 'new edit', name: 'new edit' },
        { id: 3, title: 'both', name: 'both' },
        { id: 4, title: 'title 4', name: 'title 4' },
        { id: 1001, title: 'old code', name: 'old code' },
        { id: 1002, title: 'new code', name: 'new code' },
      ]);
    });

    it('reshape price_cents → price numeric(10,2): both directions, NULLs, backfill in batches, index, verify', async () => {
      const db = scratch.database.db;
      const s = 'xc_reshape';
      const events: MigrationEvent[] = [];
      const migrator = new Migrator({ db, schema: s, migrations: [products, reshape.expand(2, 'products-price')], onEvent: (e) => events.push(e) });
      await migrator.up({ to: 1 });
      await sql.raw(seed(s, 450)).execute(db);
      await sql.raw(`update ${s}.products set price_cents = null where id = 5`).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      // Batches are key ranges of 100 rows; rows in a range that need no work (NULL prices) are skipped.
      const done = events.filter((e) => e.type === 'backfill-progress').map((e) => e.rowsDone ?? 0);
      expect(done.at(-1)).toBe(449);
      expect(done.length).toBeGreaterThanOrEqual(5);
      expect(done.every((n, i) => n > (done[i - 1] ?? 0) && n - (done[i - 1] ?? 0) <= 100)).toBe(true);
      expect(events.some((e) => e.type === 'phase-end' && e.description === 'index products_price_idx (concurrently)')).toBe(true);
      expect(await one(db, disagreeing(s))).toEqual({ n: 0 });

      await sql.raw(`insert into ${s}.products (id, price_cents) values (1001, 1999)`).execute(db);
      await sql.raw(`insert into ${s}.products (id, price) values (1002, 12.5)`).execute(db);
      await sql.raw(`update ${s}.products set price_cents = 250 where id = 1`).execute(db);
      await sql.raw(`update ${s}.products set price = 7.25 where id = 2`).execute(db);
      await sql.raw(`update ${s}.products set price = null where id = 3`).execute(db);
      await sql.raw(`update ${s}.products set price_cents = 42 where id = 5`).execute(db);
      expect(await rows(db, `select id::int, price_cents, price::text from ${s}.products where id in (1, 2, 3, 5, 6, 1001, 1002) order by id`)).toEqual([
        { id: 1, price_cents: 250, price: '2.50' },
        { id: 2, price_cents: 725, price: '7.25' },
        { id: 3, price_cents: null, price: null },
        { id: 5, price_cents: 42, price: '0.42' },
        { id: 6, price_cents: 6, price: '0.06' },
        { id: 1001, price_cents: 1999, price: '19.99' },
        { id: 1002, price_cents: 1250, price: '12.50' },
      ]);
      expect(await one(db, disagreeing(s))).toEqual({ n: 0 });
    });

    it('going back before complete: down of expand restores the exact fingerprint, and the old column has every value written meanwhile', async () => {
      const db = scratch.database.db;
      const s = 'xc_back';
      const migrator = new Migrator({ db, schema: s, migrations: [products, reshape.expand(2, 'products-price')] });
      await migrator.up({ to: 1 });
      await sql.raw(seed(s, 100)).execute(db);
      // The engine creates its step journal (schema_migrations_steps) on the
      // first phased run; that bookkeeping is not the host's schema.
      const hostSchema = async () => {
        const { lines } = await fingerprint(db, [s]);
        return lines.filter((l) => !l.includes('schema_migrations'));
      };
      const before = await hostSchema();
      expect((await migrator.up()).error).toBeUndefined();
      expect(await hostSchema()).not.toEqual(before);
      await sql.raw(`insert into ${s}.products (id, price) values (2001, 3.33)`).execute(db);
      await sql.raw(`update ${s}.products set price = price + 1 where id <= 50`).execute(db);
      await sql.raw(`insert into ${s}.products (id, price_cents) values (2002, 444)`).execute(db);

      expect((await migrator.down({ to: 1 })).error).toBeUndefined();
      expect(await hostSchema()).toEqual(before);
      expect(await rows(db, `select id::int, price_cents from ${s}.products where id in (1, 50, 51, 2001, 2002) order by id`)).toEqual([
        { id: 1, price_cents: 101 },
        { id: 50, price_cents: 150 },
        { id: 51, price_cents: 51 },
        { id: 2001, price_cents: 333 },
        { id: 2002, price_cents: 444 },
      ]);
    });

    it('contract drops the old column after verifying; its down restores a working dual-write state', async () => {
      const db = scratch.database.db;
      const s = 'xc_contract';
      const migrator = new Migrator({
        db,
        schema: s,
        // Contract drops the old column: "no old code is left" is the
        // deploy-time decision, taken for this one contract by unusedBecause.
        migrations: [products, reshape.expand(2, 'products-price'), reshape.contract(3, 'products-price-complete', { unusedBecause: NO_OLD_CODE })],
      });
      await migrator.up({ to: 1 });
      await sql.raw(seed(s, 120)).execute(db);
      expect((await migrator.up()).error).toBeUndefined();
      const columns = () => rows<{ column_name: string }>(db, `select column_name from information_schema.columns where table_schema = '${s}' and table_name = 'products' order by column_name`);
      expect((await columns()).map((c) => c.column_name)).toEqual(['id', 'price', 'title']);
      await sql.raw(`insert into ${s}.products (id, price) values (3001, 1.01)`).execute(db);
      await sql.raw(`update ${s}.products set price = 9.99 where id = 1`).execute(db);

      expect((await migrator.down({ to: 2 })).error).toBeUndefined();
      expect((await columns()).map((c) => c.column_name)).toEqual(['id', 'price', 'price_cents', 'title']);
      expect(await one(db, disagreeing(s))).toEqual({ n: 0 });
      expect(await rows(db, `select id::int, price_cents from ${s}.products where id in (1, 2, 3001) order by id`)).toEqual([
        { id: 1, price_cents: 999 },
        { id: 2, price_cents: 2 },
        { id: 3001, price_cents: 101 },
      ]);
      // dual-write works again, both ways
      await sql.raw(`insert into ${s}.products (id, price_cents) values (3002, 77)`).execute(db);
      await sql.raw(`update ${s}.products set price = 0.5 where id = 2`).execute(db);
      expect(await rows(db, `select id::int, price_cents, price::text from ${s}.products where id in (2, 3002) order by id`)).toEqual([
        { id: 2, price_cents: 50, price: '0.50' },
        { id: 3002, price_cents: 77, price: '0.77' },
      ]);
      // and contract again
      expect((await migrator.up()).error).toBeUndefined();
    });

    it('contract refuses to drop the old column while a row disagrees', async () => {
      const db = scratch.database.db;
      const s = 'xc_refuse';
      const migrator = new Migrator({ db, schema: s, migrations: [products, reshape.expand(2, 'e'), reshape.contract(3, 'c', { unusedBecause: NO_OLD_CODE })] });
      await migrator.up({ to: 2 });
      await sql.raw(`insert into ${s}.products (id, price_cents) values (1, 100)`).execute(db);
      // something that bypasses the trigger (a bulk load with triggers off, a bug)
      await sql.raw(`alter table ${s}.products disable trigger user`).execute(db);
      await sql.raw(`update ${s}.products set price = 2 where id = 1`).execute(db);
      await sql.raw(`alter table ${s}.products enable trigger user`).execute(db);
      const { error } = await migrator.up();
      expect(error?.message).toContain('Invariant failed: every row of xc_refuse.products has price = convert(price_cents)');
      expect(await one(db, `select price_cents from ${s}.products where id = 1`)).toEqual({ price_cents: 100 });
    });

    it('old and new code writing concurrently while expand runs stays consistent: no disagreement, no lost write, no error', async () => {
      const db = scratch.database.db;
      const s = 'xc_concurrent';
      const seeded = 3000;
      const spec = { ...priceSpec, backfill: { batchSize: 100, rowsPerSecond: backend.name === 'postgres' ? 1500 : 100_000 } };
      const change = expandColumn(spec);
      const migrator = new Migrator({ db, schema: s, migrations: [products, change.expand(2, 'products-price')] });
      await migrator.up({ to: 1 });
      await sql.raw(seed(s, seeded)).execute(db);

      const oldWriter = writer('old', s, seeded);
      const newWriter = writer('new', s, seeded);
      if (backend.name === 'postgres') {
        // Two sessions, like two deployments: old code from before the
        // migration to after it, new code from the moment its column exists.
        const [oldClient, newClient] = [new pg.Client({ connectionString: scratch.url }), new pg.Client({ connectionString: scratch.url })];
        await Promise.all([oldClient.connect(), newClient.connect()]);
        let migrating = true;
        let newStart: () => void = () => undefined;
        const columnExists = new Promise<void>((resolve) => (newStart = resolve));
        const loop = async (w: Writer, client: pg.Client, gate: Promise<void>) => {
          await gate;
          const stopAt = Date.now() + 2000;
          while (migrating || Date.now() < stopAt) await w.step((q) => client.query(q));
        };
        const m = new Migrator({
          db,
          schema: s,
          migrations: [products, change.expand(2, 'products-price')],
          onEvent: (e) => e.type === 'phase-end' && e.version === 2 && e.phase === 0 && newStart(),
        });
        const loops = [loop(oldWriter, oldClient, Promise.resolve()), loop(newWriter, newClient, columnExists)];
        await new Promise((r) => setTimeout(r, 200));
        const result = await m.up();
        const duringMigration = newWriter.ops;
        migrating = false;
        newStart();
        await Promise.all(loops);
        await Promise.all([oldClient.end(), newClient.end()]);
        expect(result.error).toBeUndefined();
        expect(duringMigration).toBeGreaterThan(50); // new code really wrote during the backfill
      } else {
        // PGlite is one session and the migrator holds it for a whole run, so
        // the expand migration's own statements are run here one by one, its
        // backfill batch by batch, with an old-code and a new-code write
        // between every two batches.
        const up = change.statements(s).expand.up;
        const exec = async (q: string) => void (await sql.raw(q).execute(db));
        for (let i = 0; i < 50; i++) await oldWriter.step(exec);
        for (const statement of up) {
          if (typeof statement === 'string') await exec(statement);
          else if (statement.kind === 'backfill') {
            const step: BackfillStep = statement;
            for (;;) {
              const { rows: done } = await sql.raw<{ id: string }>(
                `update ${step.table} set ${step.set} where id in (select id from ${step.table} where ${step.where} order by id limit ${step.batchSize ?? 100}) returning id`,
              ).execute(db);
              if (done.length === 0) break;
              for (let i = 0; i < 5; i++) {
                await oldWriter.step(exec);
                await newWriter.step(exec);
              }
            }
          } else if (statement.kind === 'verify') {
            const v: VerifyStep = statement;
            expect(Object.values((await sql.raw<Record<string, unknown>>(v.query).execute(db)).rows[0]!)[0]).toBe(true);
          }
        }
        expect(newWriter.ops).toBeGreaterThan(50);
      }
      expect([oldWriter.errors, newWriter.errors]).toEqual([[], []]);
      expect(await one(db, disagreeing(s))).toEqual({ n: 0 });
      expect(await one(db, `select count(*)::int as n from ${s}.products`)).toEqual({ n: seeded + oldWriter.inserts + newWriter.inserts });
      const actual = new Map((await rows<{ id: string; cents: number | null }>(db, `select id, price_cents as cents from ${s}.products`)).map((r) => [Number(r.id), r.cents]));
      const lost = [...oldWriter.expected, ...newWriter.expected].filter(([id, cents]) => actual.get(id) !== cents);
      expect(lost).toEqual([]);
    });
  });
}

interface Writer {
  readonly ops: number;
  readonly inserts: number;
  readonly errors: string[];
  /** Last value (in cents) each row this writer owns should hold. */
  readonly expected: Map<number, number>;
  step(run: (query: string) => Promise<unknown>): Promise<void>;
}

/**
 * Old code writes only `price_cents`, new code only `price`. Each owns its
 * own inserted rows and half the seeded rows (odd ids: old, even: new), so
 * the last value of each is known; rows 1..20 are written by both, and for
 * them only agreement is checked.
 */
function writer(side: 'old' | 'new', s: string, seeded: number): Writer {
  const state = { ops: 0, inserts: 0, errors: [] as string[], expected: new Map<number, number>() };
  const set = (cents: number) => (side === 'old' ? `price_cents = ${cents}` : `price = ${(cents / 100).toFixed(2)}`);
  return {
    get ops() {
      return state.ops;
    },
    get inserts() {
      return state.inserts;
    },
    errors: state.errors,
    expected: state.expected,
    async step(run) {
      const i = state.ops++;
      const cents = 1 + Math.floor(Math.random() * 100_000);
      let query: string;
      let owned: number | undefined;
      if (i % 3 === 0) {
        owned = (side === 'old' ? 1_000_000 : 2_000_000) + i;
        query = side === 'old'
          ? `insert into ${s}.products (id, title, price_cents) values (${owned}, 'old', ${cents})`
          : `insert into ${s}.products (id, title, price) values (${owned}, 'new', ${(cents / 100).toFixed(2)})`;
      } else if (i % 3 === 1) {
        const half = Math.floor(Math.random() * ((seeded - 20) / 2));
        owned = 21 + half * 2 + (side === 'old' ? 0 : 1);
        query = `update ${s}.products set ${set(cents)} where id = ${owned}`;
      } else {
        query = `update ${s}.products set ${set(cents)} where id = ${1 + (i % 20)}`;
      }
      try {
        await run(query);
        if (i % 3 === 0) state.inserts++;
        if (owned !== undefined) state.expected.set(owned, cents);
      } catch (error) {
        state.errors.push(error instanceof Error ? error.message : String(error));
      }
    },
  };
}

describe('expandColumn: the spec is validated before anything runs', () => {
  const base: ExpandColumnSpec = { table: 'products', from: { column: 'title', type: 'text' }, to: { column: 'name' } };
  it.each([
    ['a table that needs quoting', { table: 'Products' }, 'expandColumn.table'],
    ['a three-part table name', { table: 'a.b.c' }, 'expandColumn.table'],
    ['a bad schema', { table: 'my-app.products' }, 'expandColumn.table'],
    ['an injected old column', { from: { column: 'title; drop table x', type: 'text' } }, 'expandColumn.from.column'],
    ['a bad new column', { to: { column: 'Name' } }, 'expandColumn.to.column'],
    ['the same column twice', { to: { column: 'title' } }, 'expandColumn.to.column'],
    ['a bad key', { key: ['id', 'x y'] }, 'expandColumn.key[1]'],
    ['an empty key', { key: [] }, 'expandColumn.key'],
    ['a bad type', { from: { column: 'title', type: 'text; drop table x' } }, 'expandColumn.from.type'],
    // Types are interpolated into DDL: a column-definition clause would change what ADD COLUMN does (review-ec-type-check.test.ts).
    ['a type with an identity clause', { to: { column: 'name', type: 'integer generated always as identity' } }, 'expandColumn.to.type'],
    ['a type with a foreign key', { to: { column: 'name', type: 'bigint references users' } }, 'expandColumn.to.type'],
    ['a type with NOT NULL', { to: { column: 'name', type: 'numeric not null' } }, 'expandColumn.to.type'],
    ['a type with a primary key on the old side', { from: { column: 'title', type: 'integer primary key' } }, 'expandColumn.from.type'],
    ['a type with a check constraint', { to: { column: 'name', type: 'integer check (1)' } }, 'expandColumn.to.type'],
    ['a type change without conversions', { to: { column: 'name', type: 'varchar(20)' } }, 'expandColumn.convert'],
    ['convert without convertBack', { convert: (v: string) => `upper(${v})` }, 'expandColumn.convertBack'],
    ['a conversion that ignores its input', { convert: () => `'x'`, convertBack: (v: string) => v }, 'expandColumn.convert'],
    ['a bad index name', { index: { name: 'Idx' } }, 'expandColumn.index.name'],
  ] as const)('refuses %s with CK_CONFIG naming the field', (_label, patch, field) => {
    let thrown: unknown;
    try {
      expandColumn({ ...base, ...patch } as ExpandColumnSpec);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ChatkeepError);
    expect((thrown as ChatkeepError).code).toBe('CK_CONFIG');
    expect((thrown as ChatkeepError).details).toMatchObject({ field });
    expect((thrown as ChatkeepError).message.startsWith(`${field}:`)).toBe(true);
  });

  it('accepts schema-qualified tables, multi-word and array types, and names long objects deterministically', () => {
    const long = 'a'.repeat(60);
    const change = expandColumn({ ...base, table: `shop.${long}`, from: { column: 'at', type: 'timestamp  without time zone' }, to: { column: 'at2', type: 'TIMESTAMP WITH TIME ZONE' }, convert: (v) => v, convertBack: (v) => v, index: true });
    const first = change.statements('ignored');
    const text = first.expand.up.map((st) => (typeof st === 'string' ? st : JSON.stringify(st))).join('\n');
    expect(text).toContain(`alter table shop."${long}" add column "at2" timestamp with time zone`);
    expect(text).not.toContain('ignored');
    const trigger = /create trigger "([a-z0-9_]+)"/.exec(text)?.[1];
    expect(trigger).toMatch(/^ck_sync_a+_[0-9a-f]{8}$/);
    expect(trigger!.length).toBeLessThanOrEqual(63);
    expect(JSON.stringify(change.statements('x'))).toBe(JSON.stringify(first));
  });
});

describe('expandColumn: rendered migrations are frozen in time', () => {
  it('renders the same SQL, and so the same checksum, in every chatkeep version (an edit would fail CK_MIGRATION_CHECKSUM in hosts)', () => {
    const change = expandColumn({ ...priceSpec });
    const context = { schema: 'app', settings: {} };
    // Changing these hashes means changing SQL that hosts have already applied: don't.
    expect(checksumOf(change.expand(5, 'e'), context)).toBe('e3cbc624ff1aa172da6cb9432a8b5c7cc6a7bd746937d24de2f22ccb1f4a4327');
    expect(checksumOf(change.contract(6, 'c'), context)).toBe('e5c3b64b4c9403e19a5704ef4a9abe083a695bcc2c00d79e90498e9ede901870');
    // The lint comments on the drop (unusedBecause's reason, or the fix naming
    // it) are not part of the checksum: deciding later is not an edit.
    expect(checksumOf(change.contract(6, 'c', { unusedBecause: 'app 4.2 reads price only' }), context)).toBe('e5c3b64b4c9403e19a5704ef4a9abe083a695bcc2c00d79e90498e9ede901870');
  });
});
