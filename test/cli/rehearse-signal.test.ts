import { spawn } from 'node:child_process';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { BACKENDS, createPgDatabase, PG_ADMIN_URL, PG_DUMP_SKIP } from '../support/backends.js';
import { assertBuilt, chatkeep, CLI_PATH } from './cli-process.js';

/**
 * `chatkeep migrate plan --rehearse-copy` stopped with Ctrl-C (SIGINT) or
 * SIGTERM while it copies the target: the `ck_rehearse_…` database is a full
 * copy of the target's data on the target's server, so the CLI kills
 * pg_dump and psql, drops the copy, and exits 1 (CK_SHUTTING_DOWN) instead of
 * dying with the copy left behind and the tools still filling it.
 */
const postgres = BACKENDS[1]!;

/** The databases `role` owns, and the sessions it has open. */
async function leftBy(admin: Database, role: string): Promise<{ databases: string[]; sessions: string[] }> {
  const { rows: databases } = await sql<{ datname: string }>`
    select datname from pg_database where datdba = (select oid from pg_roles where rolname = ${role})`.execute(admin.db);
  const { rows: sessions } = await sql<{ name: string }>`
    select coalesce(application_name, '') as name from pg_stat_activity where usename = ${role}`.execute(admin.db);
  return { databases: databases.map((d) => d.datname), sessions: sessions.map((s) => s.name) };
}

async function until(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

describe.skipIf(postgres.skip || PG_DUMP_SKIP)('postgres: chatkeep migrate plan --rehearse-copy stopped by a signal', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s while copying drops the copy, stops pg_dump and psql, and exits 1 with CK_SHUTTING_DOWN', async (signal) => {
    assertBuilt();
    // A role of its own, so the copy it creates can be told from any other run's.
    const role = `ck_rehearse_${signal.toLowerCase()}_${process.pid}`;
    const source = await createPgDatabase();
    const admin = await openDatabase({ url: PG_ADMIN_URL });
    await sql.raw(`create role ${role} login createdb`).execute(admin.db);
    await sql.raw(`grant create on database ${source.name} to ${role}`).execute(admin.db);
    const url = new URL(source.url);
    url.username = role;
    try {
      const up = await chatkeep(['--database-url', url.toString(), 'migrate', 'up', '--to', '3']);
      expect(up.code, up.stderr).toBe(0);
      const asRole = await openDatabase({ url: url.toString() });
      try {
        // Enough rows that pg_dump | psql takes a while.
        await sql`insert into chatkeep.conversations (user_id) select 'user-' || g from generate_series(1, 300000) g`.execute(asRole.db);
      } finally {
        await asRole.close();
      }
      const env = { ...process.env };
      delete env['DATABASE_URL'];
      delete env['CHATKEEP_DATA_DIR'];
      const child = spawn(process.execPath, [CLI_PATH, '--database-url', url.toString(), 'migrate', 'plan', '--rehearse-copy'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, killedBy) => resolve({ code, signal: killedBy })));
      try {
        // The copy exists: pg_dump | psql is filling it.
        expect(await until(async () => (await leftBy(admin, role)).databases.length > 0, 30_000), stderr).toBe(true);
        // Only the CLI's own process, as `kill <pid>` does (a terminal's Ctrl-C would reach pg_dump and psql too).
        child.kill(signal);
        const outcome = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000))]);
        // pg_dump and psql must not go on filling a copy nobody will drop.
        expect(await until(async () => (await leftBy(admin, role)).sessions.length === 0, 5_000), JSON.stringify(await leftBy(admin, role))).toBe(true);
        expect((await leftBy(admin, role)).databases).toEqual([]);
        expect(outcome, stderr).toEqual({ code: 1, signal: null });
        expect(stderr).toContain('[CK_SHUTTING_DOWN]');
      } finally {
        child.kill('SIGKILL');
      }
    } finally {
      // pg_dump and psql left running by a CLI that died would recreate nothing, but may still be connected.
      await until(async () => (await leftBy(admin, role)).sessions.length === 0, 20_000);
      for (const datname of (await leftBy(admin, role)).databases) await sql.raw(`drop database if exists "${datname}" with (force)`).execute(admin.db);
      await sql.raw(`drop owned by ${role}`).execute(admin.db).catch(() => undefined);
      await source.drop();
      await sql.raw(`drop role if exists ${role}`).execute(admin.db);
      await admin.close();
    }
  }, 120_000);
});
