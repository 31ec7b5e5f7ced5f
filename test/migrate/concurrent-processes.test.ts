import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Migrator, type Migration, type MigrationEvent } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { childScript } from '../support/child-scripts.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/run-migrator.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface Runner {
  readonly child: ChildProcessWithoutNullStreams;
  readonly messages: Record<string, unknown>[];
  readonly ready: Promise<void>;
  readonly exit: Promise<number | null>;
  stderr: string;
}

/** Starts the fixture runner and collects its JSON lines. */
function startRunner(url: string, schema: string): Runner {
  const child = spawn(process.execPath, [childScript(FIXTURE), url, schema], { cwd: REPO });
  const messages: Record<string, unknown>[] = [];
  let buffered = '';
  let markReady!: () => void;
  const runner: Runner = {
    child,
    messages,
    ready: new Promise<void>((resolve) => (markReady = resolve)),
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    stderr: '',
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const message = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>;
      buffered = buffered.slice(newline + 1);
      messages.push(message);
      if (message['type'] === 'ready') markReady();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (runner.stderr += chunk));
  return runner;
}

const sleepy = (version: number, name: string): Migration => ({
  version,
  name,
  up: ({ schema: s }) => ['select pg_sleep(0.2)', `create table ${s}.${name} (id int)`],
  down: ({ schema: s }) => [`drop table ${s}.${name}`],
});

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: concurrent runners apply each migration exactly once (R-MIG-2)`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('two runners in one process apply each migration exactly once', async () => {
      const schema = 'mig_test_inprocess';
      const db = scratch.database.db;
      const events: [string, MigrationEvent['type']][] = [];
      const make = (label: string) =>
        new Migrator({
          db,
          schema,
          migrations: [sleepy(1, 'one'), sleepy(2, 'two')],
          pollIntervalMs: 20,
          onEvent: (e) => events.push([label, e.type]),
        });
      const [a, b] = await Promise.all([make('a').up(), make('b').up()]);
      expect(a.error).toBeUndefined();
      expect(b.error).toBeUndefined();
      expect([...a.results, ...b.results].map((r) => r.version).sort()).toEqual([1, 2]);
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from ${sql.id(schema, 'schema_migrations_log')} where outcome = 'ok'`.execute(
        db,
      );
      expect(rows[0]?.n).toBe(2);
      // On PostgreSQL the loser polls the advisory lock; PGlite has a single
      // session, so the loser queues for the connection instead and never
      // sees the lock taken.
      if (backend.name === 'postgres')
        expect(events.filter(([, type]) => type === 'lock-wait')).toHaveLength(1);
    });

    it.skipIf(backend.name === 'pglite')(
      'two real processes started together: each migration applied exactly once, both succeed, one waited for the lock (PostgreSQL only: PGlite is one process per data folder)',
      async () => {
        const schema = 'mig_test_processes';
        const runners = [startRunner(scratch.url!, schema), startRunner(scratch.url!, schema)];
        try {
          await Promise.all(runners.map((r) => r.ready));
          for (const r of runners) r.child.stdin.write('go\n');
          const codes = await Promise.all(runners.map((r) => r.exit));
          expect(codes, runners.map((r) => r.stderr).join('\n')).toEqual([0, 0]);
        } finally {
          for (const r of runners) if (r.child.exitCode === null) r.child.kill();
        }

        const results = runners.map(
          (r) =>
            r.messages.find((m) => m['type'] === 'result') as {
              results: { version: number; status: string }[];
            },
        );
        const applied = results.flatMap((r) =>
          r.results.filter((x) => x.status === 'applied').map((x) => x.version),
        );
        expect(applied.sort()).toEqual([1, 2, 3]);
        // The lock serialises whole runs: the winner applies everything, the loser finds nothing left.
        expect(results.map((r) => r.results.length).sort()).toEqual([0, 3]);
        const waited = runners.filter((r) => r.messages.some((m) => m['type'] === 'lock-wait'));
        expect(waited).toHaveLength(1);

        const db = scratch.database.db;
        const versions = await sql<{
          version: number;
        }>`select version from ${sql.id(schema, 'schema_migrations')} order by version`.execute(db);
        expect(versions.rows.map((r) => r.version)).toEqual([1, 2, 3]);
        const log = await sql<{ version: number; n: number }>`
          select version, count(*)::int as n from ${sql.id(schema, 'schema_migrations_log')}
          where outcome = 'ok' group by version order by version`.execute(db);
        expect(log.rows).toEqual([
          { version: 1, n: 1 },
          { version: 2, n: 1 },
          { version: 3, n: 1 },
        ]);
      },
    );
  });
}
