/**
 * The online-migration benchmark of issue 4: on PostgreSQL with N messages
 * (default 10,000,000), add a column derived from existing data, backfill it
 * and index it — once as a phased migration (chatkeep/migrate steps), once
 * the naive way (`ALTER …; UPDATE …; CREATE INDEX` in one transaction) — while
 * a writer appends turns at a steady rate through the store. Reports backfill
 * rows/s, each approach's duration, and the writer's p50/p99/worst latency
 * during each.
 *
 *   cd bench && npm run bench:migrate            (BENCH_MIGRATE_MESSAGES=1000000 for a shorter run)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase, openStore, type Store } from 'chatkeep';
import { backfill, concurrentIndex, Migrator, nonTransactional, verify, type Migration, type MigrationEvent } from 'chatkeep/migrate';
import { chatkeepSeedSql, type SeedShape } from '../lib/seed.js';
import { cpus, gitDescribe, memory, osName, packageVersion } from '../lib/machine.js';

const PG_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = process.env['BENCH_MIGRATE_DATABASE'] ?? 'ck_bench_migrate';
const MESSAGES = Number(process.env['BENCH_MIGRATE_MESSAGES'] ?? 10_000_000);
const BATCH = Number(process.env['BENCH_MIGRATE_BATCH'] ?? 10_000);
const WORKERS = Number(process.env['BENCH_MIGRATE_WORKERS'] ?? 2);
/** e.g. `8GB`: set with ALTER SYSTEM for the run (and reset after), to show what checkpoints cost the writer. */
const MAX_WAL_SIZE = process.env['BENCH_MIGRATE_MAX_WAL_SIZE'];
/** `0`: the backfill leaves the session's settings alone (tuneSession: false), to measure what the tuning does. */
const TUNE = process.env['BENCH_MIGRATE_TUNE'] !== '0';
const WRITER_INTERVAL_MS = Number(process.env['BENCH_MIGRATE_WRITER_MS'] ?? 10);
/** `0`: skip the one-worker comparison run (a shorter run when only the default is in question). */
const ONE_WORKER = process.env['BENCH_MIGRATE_ONE_WORKER'] !== '0';
/** The kernel's writeback thresholds: how much dirty page cache an fsync may find waiting (they shape the writer's worst stall). */
const kernelWriteback = ['dirty_background_bytes', 'dirty_background_ratio', 'dirty_bytes', 'dirty_ratio', 'dirty_expire_centisecs']
  .map((name) => {
    try {
      return `vm.${name}=${readFileSync(`/proc/sys/vm/${name}`, 'utf8').trim()}`;
    } catch {
      return undefined;
    }
  })
  .filter((v) => v !== undefined)
  .join(', ');
const started = Date.now();
const log = (text: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${text}\n`);

const admin = new pg.Client({ connectionString: PG_URL });
await admin.connect();
await admin.query(`drop database if exists ${DB}`);
await admin.query(`create database ${DB}`);
if (MAX_WAL_SIZE !== undefined) {
  await admin.query(`alter system set max_wal_size = '${MAX_WAL_SIZE.replace(/[^0-9A-Za-z]/g, '')}'`);
  await admin.query('select pg_reload_conf()');
  // The reload is asynchronous: this session sees the new value only after it has processed the signal.
  await new Promise((resolve) => setTimeout(resolve, 500));
}
const settings = (await admin.query<{ name: string; setting: string; unit: string | null }>(
  `select name, setting, unit from pg_settings where name in ('max_wal_size', 'shared_buffers', 'checkpoint_timeout', 'synchronous_commit', 'wal_compression') order by name`,
)).rows.map((r) => `${r.name}=${r.setting}${r.unit ?? ''}`).join(', ');
await admin.end();
const url = new URL(PG_URL);
url.pathname = `/${DB}`;

const shape: SeedShape = { conversations: Math.floor(MESSAGES / 100), messagesPerConversation: 100, users: 10_000, bigConversation: 0 };
const database = await openDatabase({ url: url.toString(), poolSize: WORKERS + 3 });
const store = await openStore({ database });
log(`seeding ${MESSAGES.toLocaleString('en-US')} messages…`);
for (const statement of chatkeepSeedSql(shape, 'chatkeep')) await sql.raw(statement).execute(database.db);
await sql`checkpoint`.execute(database.db);
log('seeded');

/** A steady writer: one turn every WRITER_INTERVAL_MS to its own conversations, latencies kept per window. */
function startWriter(s: Store) {
  let stop = false;
  const latencies: number[] = [];
  /** When each turn began (epoch ms) and how long it took, to split the worst stall by migration phase. */
  const timeline: { at: number; took: number }[] = [];
  let worstTook = 0;
  let worstAt: Date | undefined;
  const errors: string[] = [];
  const done = (async () => {
    const conversations = await Promise.all(Array.from({ length: 8 }, () => s.conversations.create('bench-writer')));
    for (let i = 0; !stop; i++) {
      const t0 = performance.now();
      try {
        await s.turns.append('bench-writer', conversations[i % 8]!.id, { user: `question ${i}`, assistant: `answer ${i}` });
      } catch (error) {
        errors.push(error instanceof Error ? error.message : String(error));
      }
      const took = performance.now() - t0;
      latencies.push(took);
      timeline.push({ at: Date.now() - took, took });
      if (took > worstTook) {
        worstTook = took;
        worstAt = new Date(Date.now() - took);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, WRITER_INTERVAL_MS - took)));
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
      const sorted = [...latencies].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
      /** The longest turn that began in [from, to) (epoch ms). */
      const worstBetween = (from: number, to: number) => Math.max(0, ...timeline.filter((t) => t.at >= from && t.at < to).map((t) => t.took));
      return { turns: sorted.length, errors: errors.length, p50: at(0.5), p99: at(0.99), worst: sorted.at(-1) ?? 0, worstAt, worstBetween };
    },
  };
}

const preview = (workers: number): Migration => ({
  version: 1,
  name: 'messages-preview',
  up: () => [
    // New rows get their preview from a trigger from the start; the backfill does the old ones.
    `alter table chatkeep.messages add column preview text`,
    `create function chatkeep.messages_preview() returns trigger language plpgsql as $$ begin new.preview := left(new.content, 32); return new; end $$`,
    `create trigger messages_preview before insert or update of content on chatkeep.messages for each row execute function chatkeep.messages_preview()`,
    backfill({ table: 'chatkeep.messages', key: ['user_id', 'conversation_id', 'seq'], set: 'preview = left(content, 32)', where: 'preview is null', batchSize: BATCH, concurrency: workers, tuneSession: TUNE }),
    concurrentIndex({ name: 'messages_preview_idx', table: 'chatkeep.messages', columns: 'user_id, preview', tuneSession: TUNE }),
    verify('every message has a preview', `select not exists (select 1 from chatkeep.messages where preview is null)`),
  ],
  down: () => [
    nonTransactional(`drop index concurrently if exists chatkeep.messages_preview_idx`),
    `drop trigger messages_preview on chatkeep.messages`,
    `drop function chatkeep.messages_preview()`,
    `alter table chatkeep.messages drop column preview`,
  ],
  statementTimeout: '30min',
});
/**
 * The naive approach, as a raw transaction on one connection so the UPDATE's
 * own time is known: that one statement is the floor a backfill is compared with.
 */
async function naive(): Promise<{ updateMs: number }> {
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(`alter table chatkeep.messages add column preview_naive text`);
    await client.query(`create function chatkeep.messages_preview_naive() returns trigger language plpgsql as $$ begin new.preview_naive := left(new.content, 32); return new; end $$`);
    await client.query(`create trigger messages_preview_naive before insert or update of content on chatkeep.messages for each row execute function chatkeep.messages_preview_naive()`);
    const t0 = performance.now();
    await client.query(`update chatkeep.messages set preview_naive = left(content, 32)`);
    const updateMs = performance.now() - t0;
    await client.query(`create index messages_preview_naive_idx on chatkeep.messages (user_id, preview_naive)`);
    await client.query('commit');
    await client.query(`drop index chatkeep.messages_preview_naive_idx`);
    await client.query(`drop trigger messages_preview_naive on chatkeep.messages`);
    await client.query(`drop function chatkeep.messages_preview_naive()`);
    await client.query(`alter table chatkeep.messages drop column preview_naive`);
    return { updateMs };
  } finally {
    await client.end();
  }
}

interface Measured {
  readonly label: string;
  readonly totalMs: number;
  readonly writer: Awaited<ReturnType<ReturnType<typeof startWriter>['stop']>>;
  readonly phases: { description: string; ms: number; from?: number; to?: number }[];
  readonly backfillRowsPerSecond: number | undefined;
  readonly walBytes: number;
  readonly checkpoints: number;
}

/** WAL written and checkpoints begun so far (server-wide: the writer's WAL counts too, a few MB). */
async function walAndCheckpoints(): Promise<{ lsn: string; checkpoints: number }> {
  const { rows } = await sql<{ lsn: string; checkpoints: number | string }>`
    select pg_current_wal_lsn()::text as lsn, checkpoints_timed + checkpoints_req as checkpoints from pg_stat_bgwriter`.execute(database.db);
  return { lsn: rows[0]!.lsn, checkpoints: Number(rows[0]!.checkpoints) };
}

/** Runs `work` with the writer going from 2 s before to 1 s after. */
async function withWriter<T>(label: string, work: () => Promise<T>): Promise<{ result: T; totalMs: number; writer: Measured['writer']; walBytes: number; checkpoints: number }> {
  log(`${label}: starting with a writer every ${WRITER_INTERVAL_MS} ms`);
  const writer = startWriter(store);
  await new Promise((r) => setTimeout(r, 2000));
  const before = await walAndCheckpoints();
  const t0 = performance.now();
  let result: T;
  try {
    result = await work();
  } finally {
    await new Promise((r) => setTimeout(r, 1000));
  }
  const totalMs = performance.now() - t0;
  const after = await walAndCheckpoints();
  const { rows } = await sql<{ bytes: string }>`select pg_wal_lsn_diff(${after.lsn}::pg_lsn, ${before.lsn}::pg_lsn)::text as bytes`.execute(database.db);
  const walBytes = Number(rows[0]!.bytes);
  const checkpoints = after.checkpoints - before.checkpoints;
  const w = await writer.stop();
  log(`${label}: ${(totalMs / 1000).toFixed(1)} s; WAL ${(walBytes / 1e9).toFixed(2)} GB, ${checkpoints} checkpoints; writer ${w.turns} turns, ${w.errors} errors, p50 ${w.p50.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms, worst ${w.worst.toFixed(0)} ms (began ${w.worstAt?.toISOString()})`);
  return { result, totalMs: totalMs - 1000, writer: w, walBytes, checkpoints };
}

async function measurePhased(workers: number): Promise<Measured> {
  const label = `phased (chatkeep/migrate steps, ${workers} backfill worker${workers === 1 ? '' : 's'})`;
  const events: MigrationEvent[] = [];
  const phases: { description: string; ms: number; from?: number; to?: number }[] = [];
  const phaseStarted = new Map<number, number>();
  let lastLog = 0;
  const migrator = new Migrator({
    db: database.db,
    schema: 'bench_phased',
    migrations: [preview(workers)],
    onEvent: (e) => {
      events.push(e);
      if ((e.type === 'phase-start' || e.type === 'phase-end') && e.direction === 'up') log(`  ${e.type} ${e.phase} ${e.description ?? ''} at ${new Date().toISOString()}`);
      if (e.type === 'phase-start' && e.direction === 'up') phaseStarted.set(e.phase ?? -1, Date.now());
      if (e.type === 'phase-end' && e.direction === 'up') phases.push({ description: String(events.find((x) => x.type === 'phase-start' && x.direction === 'up' && x.phase === e.phase)?.description ?? ''), ms: e.durationMs ?? 0, from: phaseStarted.get(e.phase ?? -1) ?? Date.now(), to: Date.now() });
      if (e.type === 'backfill-progress' && Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        log(`  backfill ${e.rowsDone?.toLocaleString('en-US')}/${e.rowsTotal?.toLocaleString('en-US')} rows, ${e.rowsPerSecond?.toLocaleString('en-US')} rows/s, ETA ${Math.round((e.etaMs ?? 0) / 1000)} s`);
      }
    },
  });
  const { result, totalMs, writer, walBytes, checkpoints } = await withWriter(label, () => migrator.up());
  if (result.error) throw result.error;
  const progress = events.filter((e) => e.type === 'backfill-progress').at(-1);
  const backfillMs = phases.find((p) => p.description.startsWith('backfill'))?.ms;
  const down = await migrator.down({ to: 0 });
  if (down.error) throw down.error;
  return { label, totalMs, writer, phases, walBytes, checkpoints, backfillRowsPerSecond: progress && backfillMs ? Math.round((progress.rowsDone ?? 0) / (backfillMs / 1000)) : undefined };
}

async function vacuum() {
  log('vacuum (the run before left a dead version of every row)');
  await sql`vacuum chatkeep.messages`.execute(database.db);
}

const phased = await measurePhased(WORKERS);
await vacuum();
const phasedOne = WORKERS === 1 || !ONE_WORKER ? undefined : await measurePhased(1);
if (phasedOne) await vacuum();
const naiveRun = await withWriter('naive (ALTER; UPDATE; CREATE INDEX in one transaction)', naive);
const plain: Measured = {
  label: 'naive (ALTER; UPDATE; CREATE INDEX in one transaction)',
  totalMs: naiveRun.totalMs,
  writer: naiveRun.writer,
  phases: [],
  backfillRowsPerSecond: undefined,
  walBytes: naiveRun.walBytes,
  checkpoints: naiveRun.checkpoints,
};
const floorRowsPerSecond = Math.round(MESSAGES / (naiveRun.result.updateMs / 1000));
await store.close();
await database.close();
const cleanup = new pg.Client({ connectionString: PG_URL });
await cleanup.connect();
await cleanup.query(`drop database if exists ${DB}`);
if (MAX_WAL_SIZE !== undefined) {
  await cleanup.query('alter system reset max_wal_size');
  await cleanup.query('select pg_reload_conf()');
}
await cleanup.end();

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(1)} ms`);
const runs = [phased, ...(phasedOne ? [phasedOne] : []), plain];
const rows = runs.map(
  (r) =>
    `| ${r.label} | ${ms(r.totalMs)} | ${r === plain ? `${floorRowsPerSecond.toLocaleString('en-US')} (its one UPDATE: ${ms(naiveRun.result.updateMs)})` : `${r.backfillRowsPerSecond?.toLocaleString('en-US')} (${Math.round(((r.backfillRowsPerSecond ?? 0) / floorRowsPerSecond) * 100)} % of the floor)`} | ${r.writer.turns} | ${r.writer.errors} | ${ms(r.writer.p50)} | ${ms(r.writer.p99)} | ${ms(r.writer.worst)} | ${(r.walBytes / 1e9).toFixed(1)} GB | ${r.checkpoints} |`,
);
const verdict = [
  `- Writer's worst stall during the phased migration: ${ms(phased.writer.worst)} (target < 200 ms) ${phased.writer.worst < 200 ? '✅' : '❌'}; during the naive one: ${ms(plain.writer.worst)}.`,
  `- Backfill: ${phased.backfillRowsPerSecond?.toLocaleString('en-US')} rows/s with ${WORKERS} workers${phasedOne ? `, ${phasedOne.backfillRowsPerSecond?.toLocaleString('en-US')} rows/s with one` : ''} (target ≥ 100,000) ${(phased.backfillRowsPerSecond ?? 0) >= 100_000 ? '✅' : '❌'}; the raw SQL floor, one UPDATE of every row in the same run: ${floorRowsPerSecond.toLocaleString('en-US')} rows/s.`,
  `- Whole phased migration: ${ms(phased.totalMs)} (target well inside 5 min) ${phased.totalMs < 300_000 ? '✅' : '❌'}.`,
  `- Phases: ${phased.phases.map((p) => `${p.description} ${ms(p.ms)}`).join('; ')}.`,
  ...[phased, ...(phasedOne ? [phasedOne] : [])].map(
    (r) => `- Writer's worst stall by phase, ${r.label}: ${r.phases.map((p) => `${p.description.replace(/ \(concurrently\)|: .*/g, '')} ${ms(r.writer.worstBetween(p.from ?? 0, p.to ?? 0))}`).join('; ')}.`,
  ),
];
const markdown = [
  `Run ${new Date().toISOString()}, PostgreSQL, ${MESSAGES.toLocaleString('en-US')} messages (${shape.conversations.toLocaleString('en-US')} conversations of 100), backfill batches of ${BATCH.toLocaleString('en-US')}, a writer appending one turn every ${WRITER_INTERVAL_MS} ms through the store during each approach.`,
  '',
  '| approach | duration | backfill rows/s | writer turns | writer errors | writer p50 | writer p99 | writer worst | WAL written | checkpoints |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  ...verdict,
  '',
  `PostgreSQL settings during the run: ${settings}. ${TUNE ? "The phased backfill's batches set, for their own transaction, synchronous_commit=off, backend_flush_after=256kB and (as a superuser, the server having it off) wal_compression=lz4 — chatkeep's defaults (src/migrate/session-tuning.ts)." : "The phased backfill ran with tuneSession: false (BENCH_MIGRATE_TUNE=0): its batches only set synchronous_commit=off."} The concurrent index build ${TUNE ? 'set wal_compression=lz4 for its session (tuneSession, default on)' : 'left wal_compression as the server has it (tuneSession: false)'}. WAL written and checkpoints begun are server-wide, from the migration's start to 1 s after its end. Kernel writeback: ${kernelWriteback || 'unknown'}.`,
  '',
  `Machine: ${cpus()}, ${memory()}, ${osName()}, Node.js ${process.version}; chatkeep ${gitDescribe('..')}; pg ${packageVersion('pg')}.`,
].join('\n');
mkdirSync('results', { recursive: true });
const file = `results/migrate-${MESSAGES === 10_000_000 ? 'latest' : 'small'}${MAX_WAL_SIZE !== undefined ? `-max-wal-${MAX_WAL_SIZE}` : ''}${TUNE ? '' : '-untuned'}.md`;
writeFileSync(file, `${markdown}\n`);
process.stdout.write(`${markdown}\n`);
log(`wrote ${file}`);
