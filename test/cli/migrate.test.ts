import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { defaultLockKey } from '../../src/migrate/index.js';
import { CHATKEEP_MIGRATIONS } from '../../src/schema/index.js';

/** The newest migration's version: every status line below counts up to it. */
const LATEST = CHATKEEP_MIGRATIONS.length;
import { BACKENDS } from '../support/backends.js';
import { useProcessLocation, type ProcessLocation } from '../support/process-location.js';
import { assertBuilt, chatkeep, target, type CliRun } from './cli-process.js';

interface StatusJson {
  readonly current: number;
  readonly latest: number;
  readonly applied: readonly {
    version: number;
    name: string;
    checksum: string;
    appliedAt: string;
    durationMs: number;
  }[];
  readonly pending: readonly { version: number; name: string }[];
  readonly problems: readonly { code: string; message: string }[];
}

/**
 * One database per backend, walked through a whole life cycle by the built
 * CLI. The cases run in order and each starts where the previous one left
 * the database (PGlite allows one process per data folder, so nothing here
 * runs concurrently against it).
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: chatkeep migrate up / status / plan / down`,
    () => {
      let location: ProcessLocation = {};
      beforeAll(() => assertBuilt());
      useProcessLocation(backend.name, (l) => (location = l));

      const run = (...args: string[]): Promise<CliRun> => chatkeep([...target(location), ...args]);
      const status = async (): Promise<StatusJson> => {
        const result = await run('migrate', 'status', '--json');
        expect(result.code, result.stderr).toBe(0);
        return JSON.parse(result.stdout) as StatusJson;
      };
      /** Direct access for what the CLI must not be able to do: tampering with history. */
      const withDatabase = async <T>(work: (database: Database) => Promise<T>): Promise<T> => {
        const database = await openDatabase(
          location.url !== undefined ? { url: location.url } : { dataDir: location.dataDir! },
        );
        try {
          return await work(database);
        } finally {
          await database.close();
        }
      };

      it('status on a fresh database lists every migration as pending and exits 0', async () => {
        const result = await run('migrate', 'status');
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toContain(`Version:  0 of ${LATEST} (0 applied, ${LATEST} pending)`);
        expect(result.stdout).toMatch(
          /Pending:\n {2}0001 conversations\n {2}0002 messages\n {2}0003 onboarding-sessions/,
        );
      });

      it('plan prints the SQL in order and changes nothing', async () => {
        const result = await run('migrate', 'plan');
        expect(result.code, result.stderr).toBe(0);
        const order = [
          '-- 0001 conversations (up',
          'create table chatkeep.conversations',
          '-- 0002 messages (up',
          '-- 0003 onboarding-sessions (up',
        ];
        const positions = order.map((text) => result.stdout.indexOf(text));
        expect(
          positions.every((p) => p >= 0),
          result.stdout,
        ).toBe(true);
        expect([...positions].sort((a, b) => a - b)).toEqual(positions);
        const after = await status();
        expect(after).toMatchObject({ current: 0, applied: [], problems: [] });
        expect(after.pending).toHaveLength(LATEST);
      });

      it('--allow-lint-errors with a rule id that does not exist is a usage error naming the option; nothing runs', async () => {
        const result = await run('migrate', 'up', '--to', '1', '--allow-lint-errors', 'drop-column,no-such-rule');
        expect(result.code).toBe(2);
        expect(result.stderr).toContain('--allow-lint-errors: unknown lint rule no-such-rule');
        expect(JSON.parse((await run('migrate', 'status', '--json')).stdout)).toMatchObject({ current: 0 });
      });

      it('up --to 1 applies one migration and prints progress with durations', async () => {
        const result = await run('migrate', 'up', '--to', '1', '--allow-lint-errors', 'drop-column');
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toContain('applying 0001 conversations…');
        expect(result.stdout).toMatch(/applied {2}0001 conversations \(\d+ ms\)/);
        expect(result.stdout).toContain('the schema is at version 1');
        expect(result.stdout).not.toContain('0002');
      });

      it('up applies the rest; status shows time, duration and checksum prefix of each', async () => {
        const up = await run('migrate', 'up', '--json');
        expect(up.code, up.stderr).toBe(0);
        expect(JSON.parse(up.stdout)).toMatchObject({
          direction: 'up',
          current: LATEST,
          results: CHATKEEP_MIGRATIONS.slice(1).map((m) => ({ version: m.version, status: 'applied' })),
        });
        expect(up.stderr).toContain('applying 0002 messages…'); // progress goes to stderr with --json

        const human = await run('migrate', 'status');
        expect(human.code).toBe(0);
        expect(human.stdout).toMatch(
          / {2}0002 messages +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +\d+ ms {2}sha256:[0-9a-f]{12}\n/,
        );
        expect(human.stdout).toContain('Pending:\n  (none)');
      });

      it('an unknown --to version is a usage error (exit 2)', async () => {
        const result = await run('migrate', 'up', '--to', '99');
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/^error \[CK_MIGRATION_TARGET\]: Unknown up target 99/m);
      });

      it('an unknown --to is refused before the database is opened: nothing printed, no data folder created', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'chatkeep-to-'));
        try {
          const fresh = join(dir, 'data');
          for (const args of [['up', '--to', '99'], ['down', '--to', '99', '--yes'], ['plan', '--to', '99'], ['plan', '--down', '--to', '99']]) {
            const result = await chatkeep(['--data-dir', fresh, 'migrate', ...args]);
            expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' });
            expect(result.stderr).toMatch(/^error \[CK_MIGRATION_TARGET\]: Unknown (up|down) target 99/m);
            expect(existsSync(fresh)).toBe(false);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });

      it('down without --yes lists the tables it would drop, exits 2 and changes nothing', async () => {
        const plan = await run('migrate', 'plan', '--down', '--to', '1');
        expect(plan.code).toBe(0);
        expect(plan.stdout.indexOf('-- 0003 onboarding-sessions (down')).toBeLessThan(
          plan.stdout.indexOf('-- 0002 messages (down'),
        );
        expect(plan.stdout).toContain('drop table chatkeep.messages;');

        const down = await run('migrate', 'down', '--to', '0');
        expect(down.code).toBe(2);
        expect(down.stderr).toContain(`WARNING: reverting ${LATEST} migrations`);
        for (const table of [
          'api_keys',
          'streamed_turns',
          'onboarding_sessions',
          'messages',
          'idempotency_keys',
          'conversations',
          'schema_migrations',
        ]) {
          expect(down.stderr).toContain(`  chatkeep.${table}\n`);
        }
        expect(down.stderr).toContain('re-run with --yes');
        expect((await status()).current).toBe(LATEST);
      });

      it('checksum drift: status reports it and exits 1; down refuses with exit 1', async () => {
        const original = await withDatabase(async ({ db }) => {
          const { rows } = await sql<{
            checksum: string;
          }>`select checksum from chatkeep.schema_migrations where version = 1`.execute(db);
          await sql`update chatkeep.schema_migrations set checksum = 'edited-after-it-ran' where version = 1`.execute(
            db,
          );
          return rows[0]!.checksum;
        });
        const drifted = await run('migrate', 'status');
        expect(drifted.code).toBe(1);
        expect(drifted.stdout).toContain('Problems');
        expect(drifted.stdout).toContain('[CK_MIGRATION_CHECKSUM]');
        const refused = await run('migrate', 'down', '--to', '0', '--yes');
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/^error \[CK_MIGRATION_CHECKSUM\]: /m);
        // As `up --json` does, `down --json` still prints its one document, with the error in it
        // (it once printed nothing on stdout, which a deploy script then failed to parse).
        for (const direction of ['up', 'down'] as const) {
          const json = await run('migrate', direction, ...(direction === 'down' ? ['--to', '0', '--yes'] : []), '--json');
          expect(json.code, direction).toBe(1);
          expect(JSON.parse(json.stdout), direction).toMatchObject({
            direction,
            current: LATEST,
            results: [],
            error: { code: 'CK_MIGRATION_CHECKSUM' },
          });
        }

        await withDatabase(({ db }) =>
          sql`update chatkeep.schema_migrations set checksum = ${original} where version = 1`.execute(
            db,
          ),
        );
      });

      if (backend.name === 'pglite') {
        it('exits 3 when another process has the data folder open', async () => {
          // PGlite has no multi-process protection, so chatkeep locks the folder
          // with a pid file; this test process is alive, so its pid holds it.
          const lockFile = join(location.dataDir!, 'chatkeep.lock');
          writeFileSync(lockFile, String(process.pid));
          try {
            const result = await run('migrate', 'up');
            expect(result.code).toBe(3);
            expect(result.stderr).toContain(`is in use by process ${process.pid}`);
          } finally {
            unlinkSync(lockFile);
          }
        });
      } else {
        it('exits 4 when another migrator holds the lock past --lock-wait', async () => {
          const holder = new pg.Client({ connectionString: location.url });
          await holder.connect();
          try {
            await holder.query('select pg_advisory_lock($1::bigint)', [
              defaultLockKey('chatkeep', 'schema_migrations').toString(),
            ]);
            const result = await run('migrate', 'down', '--to', '2', '--yes', '--lock-wait', '300');
            expect(result.code).toBe(4);
            expect(result.stdout).toContain('waiting for another migrator…');
            expect(result.stderr).toMatch(/^error \[CK_MIGRATION_LOCK\]: /m);
          } finally {
            await holder.end();
          }
          expect((await status()).current).toBe(LATEST);
        });
      }

      it('down --to 0 --yes removes every table of chatkeep and its schema', async () => {
        const result = await run('migrate', 'down', '--to', '0', '--yes');
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toMatch(
          /reverted {2}0003 onboarding-sessions \(\d+ ms\)\n[^]*reverted {2}0001 conversations/,
        );
        expect(result.stdout).toContain('the schema is at version 0');
        const { rows } = await withDatabase(({ db }) =>
          sql`select 1 from pg_namespace where nspname = 'chatkeep'`.execute(db),
        );
        expect(rows).toHaveLength(0);
      });
    },
  );
}
