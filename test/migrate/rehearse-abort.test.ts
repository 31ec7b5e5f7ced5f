import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { backfill, Migrator, postgresDumpCopy, rehearse, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, PG_DUMP_SKIP } from '../support/backends.js';
import { rehearsalRole, until } from '../support/rehearsal-role.js';
import { itemsMigration, SCHEMA } from './fixtures/rehearsal-databases.js';

/**
 * A rehearsal stopped part-way (`signal`, which the CLI aborts on SIGINT or
 * SIGTERM): the `ck_rehearse_…` copy it made on the target's server is a
 * full copy of the target's data, so it must be removed and pg_dump/psql
 * stopped, whether the stop comes while copying or while migrating.
 */
const migrations: Migration[] = [
  // Enough rows that pg_dump | psql takes a while.
  itemsMigration(300_000, 'repeat(md5(g::text), 4)'),
  {
    version: 2,
    name: 'slow',
    up: () => [`select pg_sleep(30)`],
    down: () => [`select 1`],
  },
];

/** A paced backfill spends most of its time between batches, with no statement to end: the next batch must not start. */
const pacedBackfill: Migration[] = [
  migrations[0]!,
  {
    version: 2,
    name: 'paced-backfill',
    up: ({ schema: s }) => [
      `alter table ${s}.items add column w text`,
      backfill({ table: `${s}.items`, key: ['id'], set: 'w = v', where: 'w is null', batchSize: 2_000, pauseMs: 200 }),
    ],
    down: ({ schema: s }) => [`alter table ${s}.items drop column w`],
  },
];

/** Many short statements, each its own transaction on a session of the pool: ending the current session must not let the next one start. */
const manySteps: Migration[] = [
  migrations[0]!,
  {
    version: 2,
    name: 'many-steps',
    transactional: false,
    up: () => Array.from({ length: 40 }, () => `select pg_sleep(0.5)`),
    down: () => [`select 1`],
  },
];

const postgres = BACKENDS[1]!;

describe.skipIf(postgres.skip || PG_DUMP_SKIP)('postgres: a rehearsal stopped part-way', () => {
  it.each(['copying', 'migrating', 'migrating step by step', 'backfilling'] as const)('while %s: rejects with CK_SHUTTING_DOWN, drops its copy and leaves no pg_dump/psql session', async (when) => {
    // A role of its own, so the copy it creates can be told from any other run's.
    const sandbox = await rehearsalRole(`ck_rehearse_stop_${when.replace(/ /g, '_')}_${process.pid}`, { createSchemas: true });
    const asRole = await openDatabase({ url: sandbox.url });
    const controller = new AbortController();
    try {
      expect((await new Migrator({ db: asRole.db, schema: SCHEMA, migrations }).up({ to: 1 })).error).toBeUndefined();
      if (when === 'copying') {
        // As soon as the copy database exists, pg_dump | psql is filling it.
        void until(async () => (await sandbox.leftBehind()).databases.length > 0, 20_000).then(() => controller.abort());
      }
      const started = performance.now();
      const outcome = await Promise.race([
        rehearse({
          copy: postgresDumpCopy(sandbox.url),
          migrator: {
            schema: SCHEMA,
            migrations: when === 'migrating step by step' ? manySteps : when === 'backfilling' ? pacedBackfill : migrations,
            onEvent: (event) => {
              if (when !== 'copying' && event.type === 'migration-start') setTimeout(() => controller.abort(), 300);
            },
          },
          signal: controller.signal,
        }).then(
          () => 'completed',
          (error: unknown) => error,
        ),
        new Promise((resolve) => setTimeout(() => resolve('still running after 15 s'), 15_000)),
      ]);
      expect(outcome).toMatchObject({ code: 'CK_SHUTTING_DOWN' });
      expect(performance.now() - started).toBeLessThan(15_000);
      // Terminated sessions leave pg_stat_activity a moment after the drop.
      expect(await until(async () => (await sandbox.leftBehind()).sessions.length <= 1, 5_000), JSON.stringify(await sandbox.leftBehind())).toBe(true);
      expect((await sandbox.leftBehind()).databases).toEqual([]);
    } finally {
      controller.abort();
      await asRole.close();
      await sandbox.remove();
    }
  }, 60_000);
});
