import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { fingerprint } from '../../src/migrate/index.js';
import { BACKENDS, PG_DUMP_SKIP } from '../support/backends.js';
import { useProcessLocation, type ProcessLocation } from '../support/process-location.js';
import { assertBuilt, chatkeep, target, type CliRun } from './cli-process.js';

interface RehearsalJson {
  readonly copy: string;
  readonly lockSource: 'measured' | 'estimated';
  readonly maxLockMs: number;
  readonly overBudget: boolean;
  readonly migrations: readonly {
    readonly version: number;
    readonly status: string;
    readonly steps: readonly { readonly flagged: boolean; readonly locks: readonly { relation: string; mode: string; heldMs: number; blocksWrites: boolean; newRelation: boolean }[] }[];
  }[];
}

/**
 * `chatkeep migrate plan --rehearse`, run as the built CLI: it prints the
 * plan and the rehearsal's lock table, exits 1 when a step goes over
 * `--max-lock`, and leaves the database it was pointed at exactly as it was.
 * Migration 0004 adds a column to `messages` (ACCESS EXCLUSIVE until commit)
 * and a table referencing `conversations` (SHARE ROW EXCLUSIVE), so with the
 * database at version 3 there is always a write-blocking lock to report.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip || (backend.name === 'postgres' && PG_DUMP_SKIP))(`${backend.name}: chatkeep migrate plan --rehearse`, () => {
    let location: ProcessLocation = {};
    beforeAll(() => assertBuilt());
    useProcessLocation(backend.name, (l) => (location = l));
    const run = (...args: string[]): Promise<CliRun> => chatkeep([...target(location), ...args]);
    // PostgreSQL needs a copy option; the embedded database is cloned in memory.
    const rehearseArgs = backend.name === 'postgres' ? ['--rehearse-copy', '--sample-interval', '1'] : ['--rehearse'];

    /** Everything the rehearsal must not change: schema fingerprint, rows, applied versions. */
    const state = async () => {
      const database = await openDatabase(location.url !== undefined ? { url: location.url } : { dataDir: location.dataDir! });
      try {
        const { rows } = await sql<{ n: number; md5: string | null }>`
          select count(*)::int as n, md5(string_agg(t::text, '|' order by t.user_id, t.id)) as md5 from chatkeep.conversations t`.execute(database.db);
        const { rows: versions } = await sql<{ version: number }>`select version from chatkeep.schema_migrations order by version`.execute(database.db);
        return { schema: (await fingerprint(database.db, ['chatkeep'])).hash, rows: rows[0], versions: versions.map((v) => v.version) };
      } finally {
        await database.close();
      }
    };
    let before: Awaited<ReturnType<typeof state>>;

    beforeAll(async () => {
      const up = await run('migrate', 'up', '--to', '3');
      expect(up.code, up.stderr).toBe(0);
      const database = await openDatabase(location.url !== undefined ? { url: location.url } : { dataDir: location.dataDir! });
      try {
        await sql`insert into chatkeep.conversations (user_id) select 'user-' || g from generate_series(1, 500) g`.execute(database.db);
      } finally {
        await database.close();
      }
      before = await state();
    });

    it('prints the plan and a lock table, flags the step over --max-lock and exits 5; the database is unchanged', async () => {
      // Up to 0006: 0007's per-table phases hold locks too, and would be flagged beside 0004's.
      const result = await run('migrate', 'plan', '--to', '6', ...rehearseArgs, '--max-lock', '0');
      expect(result.code, result.stderr).toBe(5);
      // The plan is still there, then the rehearsal, all as SQL comments.
      expect(result.stdout).toContain('alter table chatkeep.messages add column aborted');
      expect(result.stdout).toContain(`-- Lock times are ${backend.name === 'postgres' ? 'MEASURED' : 'ESTIMATED'}.`);
      expect(result.stdout).toMatch(/-- !! 1 {2}5 statements in one transaction +\d[\d,]* ms {2}ACCESS EXCLUSIVE +chatkeep\.messages +\d[\d,]* ms {2}blocks reads and writes/);
      expect(result.stdout).toMatch(/-- Result: 1 step held a lock that blocks writes for longer than 0 ms:\n-- {3}0004 streamed-turns step 1: ACCESS EXCLUSIVE on chatkeep\.messages for \d/);
      // Progress of the rehearsal is on stderr, marked as the rehearsal's.
      expect(result.stderr).toContain('[rehearsal] applied  0004 streamed-turns');
      expect(await state()).toEqual(before);
    });

    it('--json adds the rehearsal to the plan document and exits 0 within the budget', async () => {
      const result = await run('migrate', 'plan', '--to', '6', ...rehearseArgs, '--max-lock', '60000', '--json');
      expect(result.code, result.stderr).toBe(0);
      const { rehearsal, migrations } = JSON.parse(result.stdout) as { rehearsal: RehearsalJson; migrations: { version: number }[] };
      expect(migrations.map((m) => m.version)).toEqual([4, 5, 6]);
      expect(rehearsal).toMatchObject({ lockSource: backend.name === 'postgres' ? 'measured' : 'estimated', maxLockMs: 60000, overBudget: false });
      expect(rehearsal.migrations.map((m) => [m.version, m.status])).toEqual([
        [4, 'applied'],
        [5, 'applied'],
        [6, 'applied'],
      ]);
      const messagesLock = rehearsal.migrations[0]!.steps[0]!.locks.find((l) => l.relation === 'chatkeep.messages' && l.mode === 'ACCESS EXCLUSIVE');
      expect(messagesLock).toMatchObject({ blocksWrites: true, newRelation: false });
      expect(messagesLock!.heldMs).toBeGreaterThan(0);
      expect(await state()).toEqual(before);
    });

    if (backend.name === 'postgres') {
      it('refuses --rehearse without a copy, and a --rehearse-url that is the target itself', async () => {
        const [noCopy, itself] = await Promise.all([run('migrate', 'plan', '--rehearse'), run('migrate', 'plan', '--rehearse-url', location.url!)]);
        expect(noCopy.code).toBe(2);
        expect(noCopy.stderr).toContain('--rehearse on PostgreSQL needs a copy to run on: --rehearse-copy');
        expect(itself.code, itself.stderr).toBe(2);
        expect(itself.stderr).toContain('[CK_CONFIG]');
        expect(itself.stderr).toContain('is the target database itself');
        expect(await state()).toEqual(before);
      });
    } else {
      it('refuses the PostgreSQL copy options on the embedded database, and --max-lock without --rehearse', async () => {
        const [copy, budget] = await Promise.all([
          chatkeep(['--data-dir', 'memory://', 'migrate', 'plan', '--rehearse-copy']),
          chatkeep(['--data-dir', 'memory://', 'migrate', 'plan', '--max-lock', '10']),
        ]);
        expect(copy.code).toBe(2);
        expect(copy.stderr).toContain('--rehearse-copy and --rehearse-url are for PostgreSQL');
        expect(budget.code).toBe(2);
        expect(budget.stderr).toContain('only apply with --rehearse');
      });
    }
  });
}

describe('chatkeep migrate plan --help', () => {
  it('documents the rehearsal options and what exit code 1 means with them', async () => {
    assertBuilt();
    const help = await chatkeep(['migrate', 'plan', '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--rehearse', '--rehearse-copy', '--rehearse-url <url>', '--max-lock <ms>', '--sample-interval <ms>']) expect(help.stdout).toContain(option);
    expect(help.stdout).toContain('With --rehearse, exit code 1 also means');
  });
});
