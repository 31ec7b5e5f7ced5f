import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ChatkeepError } from '../../src/errors/index.js';
import { checksumOf, defaultLockKey, Migrator, type Migration } from '../../src/migrate/index.js';

/**
 * Construction-time validation touches no database, so it runs once rather
 * than per backend, on a real (lazily connecting) pg pool that points at a
 * port nothing listens on: construction must never connect.
 */
const ok = (version: number, name = `m${version}`): Migration => ({
  version,
  name,
  up: () => ['select 1'],
  down: () => ['select 1'],
});

describe('Migrator construction', () => {
  const unreachable = new Kysely<any>({
    dialect: new PostgresDialect({
      pool: new pg.Pool({
        connectionString: 'postgres://postgres@127.0.0.1:1/none',
        connectionTimeoutMillis: 1000,
      }),
    }),
  });
  afterAll(() => unreachable.destroy());

  const build = (extra: Record<string, unknown>) => () =>
    new Migrator({ db: unreachable, migrations: [ok(1), ok(2)], ...extra } as never);

  it.each([
    ['duplicate versions', { migrations: [ok(1), ok(1, 'again')] }, /version 1 is used twice/],
    [
      'descending versions',
      { migrations: [ok(2), ok(1)] },
      /versions must be ascending, but 1 \(m1\) comes after 2/,
    ],
    [
      'zero version',
      { migrations: [ok(0)] },
      /migrations\[0\]\.version: expected a positive integer/,
    ],
    ['fractional version', { migrations: [ok(1.5)] }, /expected a positive integer, got 1.5/],
    [
      'empty name',
      { migrations: [ok(1, ' ')] },
      /migrations\[0\]\.name: expected a non-empty name/,
    ],
    [
      'missing down',
      { migrations: [{ version: 1, name: 'a', up: () => [] }] },
      /needs both up\(\) and down\(\)/,
    ],
    ['bad schema', { schema: 'Chat-Keep' }, /^schema: expected a lower-case identifier/],
    ['schema too long', { schema: 'a'.repeat(64) }, /^schema:/],
    ['table too long for its _log twin', { table: 't'.repeat(60) }, /^table:.*at most 59/],
    ['negative lockWaitMs', { lockWaitMs: -1 }, /^lockWaitMs:/],
    ['zero pollIntervalMs', { pollIntervalMs: 0 }, /^pollIntervalMs:/],
    ['unsafe numeric lockKey', { lockKey: 2 ** 60 }, /^lockKey:/],
    ['lockKey beyond bigint', { lockKey: 2n ** 63n }, /^lockKey:/],
  ])('refuses %s with CK_CONFIG naming the problem', (_label, extra, message) => {
    let thrown: unknown;
    try {
      build(extra)();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ChatkeepError);
    expect((thrown as ChatkeepError).code).toBe('CK_CONFIG');
    expect((thrown as ChatkeepError).message).toMatch(message);
  });

  it('accepts an empty migration list and the defaults', () => {
    const migrator = new Migrator({ db: unreachable, migrations: [] });
    expect(migrator.context).toEqual({ schema: 'chatkeep', settings: {} });
  });

  it('up and down report an unreachable database as CK_DB_UNAVAILABLE instead of throwing', async () => {
    const migrator = new Migrator({ db: unreachable, migrations: [ok(1)] });
    const up = await migrator.up();
    expect(up.error?.code).toBe('CK_DB_UNAVAILABLE');
    expect(up.results).toEqual([]);
    expect((await migrator.down({ to: 0 })).error?.code).toBe('CK_DB_UNAVAILABLE');
  });

  it('checksumOf hashes version, name and rendered up SQL, and follows the settings', () => {
    const m: Migration = {
      version: 3,
      name: 'tags',
      up: ({ schema, settings }) => [
        `create table ${schema}.t (x int)`,
        `comment on table ${schema}.t is '${String(settings['note'])}'`,
      ],
      down: () => ['select 1'],
    };
    const a = checksumOf(m, { schema: 's', settings: { note: 'a' } });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(checksumOf(m, { schema: 's', settings: { note: 'a' } })).toBe(a);
    expect(checksumOf(m, { schema: 's', settings: { note: 'b' } })).not.toBe(a);
    expect(checksumOf({ ...m, name: 'tags2' }, { schema: 's', settings: { note: 'a' } })).not.toBe(
      a,
    );
    expect(
      checksumOf({ ...m, down: () => ['select 2'] }, { schema: 's', settings: { note: 'a' } }),
    ).toBe(a);
  });

  it('derives a stable signed 64-bit lock key per schema and table', () => {
    const key = defaultLockKey('chatkeep', 'schema_migrations');
    expect(defaultLockKey('chatkeep', 'schema_migrations')).toBe(key);
    expect(defaultLockKey('other', 'schema_migrations')).not.toBe(key);
    expect(key >= -(2n ** 63n) && key < 2n ** 63n).toBe(true);
  });
});
