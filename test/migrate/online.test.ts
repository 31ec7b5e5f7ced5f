import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { backfill, concurrentIndex, Migrator, verify, type Migration } from '../../src/migrate/index.js';
import { openStore } from '../../src/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { childScript } from '../support/child-scripts.js';

/**
 * Online means the application keeps working: a writer appending turns at a
 * steady rate while a phased migration adds, backfills and indexes a column
 * of chatkeep's own messages table sees no error and no long stall.
 */
const writer = fileURLToPath(new URL('./fixtures/steady-writer.ts', import.meta.url));

describe.skipIf(BACKENDS[1]!.skip)('postgres: a phased migration under a steady writer', () => {
  let scratch: ScratchDatabase;
  useScratchDatabase('postgres', (s) => (scratch = s));

  it('adding, backfilling and indexing a messages column: zero writer errors, every turn whole', { timeout: 120_000 }, async () => {
    const store = await openStore({ database: scratch.database });
    // 20,000 existing messages to backfill, in 100 conversations.
    const seeded = await Promise.all(Array.from({ length: 100 }, () => store.conversations.create('seed-user')));
    await Promise.all(
      seeded.map(async ({ id }) => {
        for (let i = 0; i < 100; i++) await store.turns.append('seed-user', id, { user: `q ${i}`, assistant: `a ${i}` });
      }),
    );
    const child = spawn(process.execPath, [childScript(writer), scratch.url!, '5'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => out.includes('ready') && (clearInterval(timer), resolve()), 10);
    });
    const preview: Migration = {
      version: 1,
      name: 'messages-preview',
      up: () => [
        `alter table chatkeep.messages add column preview text`,
        backfill({ table: 'chatkeep.messages', key: ['user_id', 'conversation_id', 'seq'], set: 'preview = left(content, 20)', where: 'preview is null', batchSize: 500 }),
        concurrentIndex({ name: 'messages_preview_idx', table: 'chatkeep.messages', columns: 'user_id, preview' }),
        verify('old messages all have a preview', `select not exists (select 1 from chatkeep.messages where preview is null and user_id = 'seed-user')`),
      ],
      down: () => [`drop index chatkeep.messages_preview_idx`, `alter table chatkeep.messages drop column preview`],
    };
    const migrator = new Migrator({ db: scratch.database.db, schema: 'host_migrations', migrations: [preview] });
    const { error } = await migrator.up();
    expect(error).toBeUndefined();
    child.stdin.write('stop\n');
    await new Promise((resolve) => child.on('exit', resolve));
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { turns: number; errors: string[]; maxMs: number; p99Ms: number };
    expect(report.errors).toEqual([]);
    expect(report.turns).toBeGreaterThan(20);
    const { rows } = await sql<{ n: number; pairs: number }>`
      select count(*)::int as n, count(distinct turn_id)::int as pairs from chatkeep.messages where user_id = 'steady-writer'`.execute(scratch.database.db);
    expect(rows[0]!.n).toBe(report.turns * 2);
    expect(rows[0]!.pairs).toBe(report.turns);
    console.log(`[online migration] writer: ${report.turns} turns, 0 errors, p99 ${report.p99Ms} ms, worst ${report.maxMs} ms`);
    await migrator.down({ to: 0 });
    await store.close();
  });
});
