/**
 * Where the writer's worst stall in bench:migrate's concurrent index build
 * comes from: seeds N messages (default 10,000,000) with a filled `preview`
 * column once, then builds `(user_id, preview)` concurrently under several
 * session settings, each while a writer appends a turn every 10 ms, and
 * reports the writer's worst/p99 per variant, the WAL the build wrote, and
 * the temp bytes its sort spilled.
 *
 *   cd bench && node --import tsx probe/index-stall.ts
 *   PROBE_MESSAGES=2000000 PROBE_ROUNDS=1 PROBE_VARIANTS=default,mem node --import tsx probe/index-stall.ts
 *
 * Drops and recreates the database ck_probe_index (and drops it at the end).
 */
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase, openStore } from 'chatkeep';
import { chatkeepSeedSql } from '../lib/seed.js';

const PG_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = 'ck_probe_index';
const MESSAGES = Number(process.env['PROBE_MESSAGES'] ?? 10_000_000);
const ROUNDS = Number(process.env['PROBE_ROUNDS'] ?? 2);
const VARIANTS: Record<string, readonly string[]> = {
  default: [],
  mem: ["set maintenance_work_mem = '1GB'"],
  'mem+lz4': ["set maintenance_work_mem = '1GB'", "set wal_compression = 'lz4'"],
  'mem+serial': ["set maintenance_work_mem = '1GB'", 'set max_parallel_maintenance_workers = 0'],
  'mem+lz4+serial': ["set maintenance_work_mem = '1GB'", "set wal_compression = 'lz4'", 'set max_parallel_maintenance_workers = 0'],
};
const chosen = (process.env['PROBE_VARIANTS'] ?? Object.keys(VARIANTS).join(',')).split(',');
const log = (text: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);

const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
await admin.query(`drop database if exists ${DB}`);
await admin.query(`create database ${DB}`);
await admin.end();
const url = new URL(PG_URL);
url.pathname = `/${DB}`;
const database = await openDatabase({ url: url.toString(), poolSize: 4 });
const store = await openStore({ database });
log(`seeding ${MESSAGES.toLocaleString('en-US')} messages with a preview column…`);
for (const statement of chatkeepSeedSql({ conversations: Math.floor(MESSAGES / 100), messagesPerConversation: 100, users: 10_000, bigConversation: 0 }, 'chatkeep')) {
  await sql.raw(statement).execute(database.db);
}
await sql`alter table chatkeep.messages add column preview text`.execute(database.db);
await sql`update chatkeep.messages set preview = left(content, 32)`.execute(database.db);
await sql`vacuum analyze chatkeep.messages`.execute(database.db);
await sql`checkpoint`.execute(database.db);
log('seeded');

const writerConversations = await Promise.all(Array.from({ length: 8 }, () => store.conversations.create('probe-writer')));
async function withWriter(work: () => Promise<void>) {
  let stop = false;
  const took: number[] = [];
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      const t0 = performance.now();
      await store.turns.append('probe-writer', writerConversations[i % 8]!.id, { user: `q ${i}`, assistant: `a ${i}` });
      const ms = performance.now() - t0;
      took.push(ms);
      await new Promise((r) => setTimeout(r, Math.max(0, 10 - ms)));
    }
  })();
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 1000));
  stop = true;
  await writer;
  const sorted = [...took].sort((a, b) => a - b);
  return { ms, worst: sorted.at(-1) ?? 0, p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0, over100: took.filter((t) => t > 100).length };
}

const conn = new pg.Client({ connectionString: url.toString() });
await conn.connect();
const lines: string[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const name of chosen) {
    const settings = VARIANTS[name];
    if (settings === undefined) throw new Error(`unknown variant ${name}`);
    await conn.query('reset all');
    for (const s of settings) await conn.query(s);
    await conn.query('checkpoint');
    const before = (await conn.query<{ lsn: string; temp: string; ckpt: string }>(
      `select pg_current_wal_lsn()::text as lsn, (select temp_bytes from pg_stat_database where datname = current_database())::text as temp,
              (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter)::text as ckpt`,
    )).rows[0]!;
    const r = await withWriter(async () => {
      await conn.query('create index concurrently messages_preview_idx on chatkeep.messages (user_id, preview)');
    });
    const after = (await conn.query<{ wal: string; temp: string; ckpt: string }>(
      `select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text as wal, (select temp_bytes from pg_stat_database where datname = current_database())::text as temp,
              (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter)::text as ckpt`,
      [before.lsn],
    )).rows[0]!;
    const line = `round ${round} ${name.padEnd(15)} build ${(r.ms / 1000).toFixed(1)} s · writer worst ${r.worst.toFixed(0)} ms, p99 ${r.p99.toFixed(1)} ms, ${r.over100} turns > 100 ms · WAL ${(Number(after.wal) / 1e9).toFixed(2)} GB · temp ${((Number(after.temp) - Number(before.temp)) / 1e9).toFixed(2)} GB · checkpoints ${Number(after.ckpt) - Number(before.ckpt)}`;
    log(line);
    lines.push(line);
    await conn.query('drop index chatkeep.messages_preview_idx');
  }
}
await conn.end();
await store.close();
await database.close();
const cleanup = new pg.Client({ connectionString: PG_URL });
await cleanup.connect();
await cleanup.query(`drop database if exists ${DB}`);
await cleanup.end();
process.stdout.write(`${lines.join('\n')}\n`);
