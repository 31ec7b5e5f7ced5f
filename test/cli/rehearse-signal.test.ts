import { spawn } from 'node:child_process';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { BACKENDS, PG_DUMP_SKIP } from '../support/backends.js';
import { rehearsalRole, until } from '../support/rehearsal-role.js';
import { assertBuilt, chatkeep, CLI_PATH } from './cli-process.js';

/**
 * `chatkeep migrate plan --rehearse-copy` stopped with Ctrl-C (SIGINT) or
 * SIGTERM while it copies the target: the `ck_rehearse_…` database is a full
 * copy of the target's data on the target's server, so the CLI kills
 * pg_dump and psql, drops the copy, and exits 1 (CK_SHUTTING_DOWN) instead of
 * dying with the copy left behind and the tools still filling it.
 */
const postgres = BACKENDS[1]!;

describe.skipIf(postgres.skip || PG_DUMP_SKIP)('postgres: chatkeep migrate plan --rehearse-copy stopped by a signal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s while copying drops the copy, stops pg_dump and psql, and exits 1 with CK_SHUTTING_DOWN', async (signal) => {
    assertBuilt();
    // A role of its own, so the copy it creates can be told from any other run's.
    const sandbox = await rehearsalRole(`ck_rehearse_${signal.toLowerCase()}_${process.pid}`, { createSchemas: true });
    const url = sandbox.url;
    try {
      const up = await chatkeep(['--database-url', url, 'migrate', 'up', '--to', '3']);
      expect(up.code, up.stderr).toBe(0);
      const asRole = await openDatabase({ url });
      try {
        // Enough rows that pg_dump | psql takes a while.
        await sql`insert into chatkeep.conversations (user_id) select 'user-' || g from generate_series(1, 300000) g`.execute(asRole.db);
      } finally {
        await asRole.close();
      }
      const env = { ...process.env };
      delete env['DATABASE_URL'];
      delete env['CHATKEEP_DATA_DIR'];
      const child = spawn(process.execPath, [CLI_PATH, '--database-url', url, 'migrate', 'plan', '--rehearse-copy'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, killedBy) => resolve({ code, signal: killedBy })));
      try {
        // The copy exists: pg_dump | psql is filling it.
        expect(await until(async () => (await sandbox.leftBehind()).databases.length > 0, 30_000), stderr).toBe(true);
        // Only the CLI's own process, as `kill <pid>` does (a terminal's Ctrl-C would reach pg_dump and psql too).
        child.kill(signal);
        const outcome = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000))]);
        // pg_dump and psql must not go on filling a copy nobody will drop.
        expect(await until(async () => (await sandbox.leftBehind()).sessions.length === 0, 5_000), JSON.stringify(await sandbox.leftBehind())).toBe(true);
        expect((await sandbox.leftBehind()).databases).toEqual([]);
        expect(outcome, stderr).toEqual({ code: 1, signal: null });
        expect(stderr).toContain('[CK_SHUTTING_DOWN]');
      } finally {
        child.kill('SIGKILL');
      }
    } finally {
      // pg_dump and psql left running by a CLI that died would recreate nothing, but may still be connected.
      await until(async () => (await sandbox.leftBehind()).sessions.length === 0, 20_000);
      await sql.raw(`drop owned by ${sandbox.role}`).execute(sandbox.admin.db).catch(() => undefined);
      await sandbox.remove();
    }
  }, 120_000);
});
