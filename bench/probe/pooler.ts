/**
 * What a pooler in transaction mode costs chatkeep: the same calls on one
 * database, directly and through a real PgBouncer in transaction mode
 * (`pooler: 'transaction'`), as the tables' owner and as a role that
 * row-level security binds, next to a raw `pg` floor sent both ways.
 *
 *   npm run probe:pooler        (~2 min; needs pgbouncer and PostgreSQL)
 *
 * Behind such a pooler chatkeep's hot statements go unnamed (parsed and
 * planned on every call), and a bound role's acting user is set in a
 * transaction around every statement instead of once per session. The
 * floor sends its statements named directly and unnamed through the pooler
 * (PgBouncer 1.18 keeps no prepared statements in transaction mode), so
 * its two columns show what the pooler alone costs any client.
 *
 * It drops and recreates the database `ck_bench_pooler` (BENCH_PG_URL's
 * server, default postgres://postgres@127.0.0.1:5432/postgres) and the
 * role `ck_bench_pooler_app`, and drops both at the end.
 */
import { openStore, type Store } from 'chatkeep';
import pg from 'pg';
import { startPgBouncerProcess } from '../../test/support/pgbouncer-process.js';
import { loggedPool, withClient } from '../lib/connections.js';
import { cpuSnapshot, otherCpuPercent } from '../lib/interference.js';
import { runCount, runForDuration, summarizeSamples, type Operation, type Sample } from '../lib/load.js';
import { dropRlsRole, prepareRlsRole } from '../lib/rls-role.js';
import { chatkeepSeedSql, RAW_DDL, rawSeedSql, seededConversation, type SeedShape } from '../lib/seed.js';
import type { Summary } from '../lib/stats.js';
import { RAW_APPEND_SQL, RAW_LATEST_SQL } from '../targets/raw-sql.js';
import { ASSISTANT_TEXT, USER_TEXT } from '../lib/turn-texts.js';

const ADMIN_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATABASE = 'ck_bench_pooler';
const ROLE = 'ck_bench_pooler_app';
const SHAPE: SeedShape = { conversations: 2000, messagesPerConversation: 100, users: 200, bigConversation: 0 };
const READS = Number(process.env['PROBE_READS'] ?? 2000);
const APPEND_MS = Number(process.env['PROBE_APPEND_MS'] ?? 3000);
const RAW_GET_SQL = 'select user_id, id, last_seq, created_at from raw.conversations where user_id = $1 and id = $2';

const log = (message: string) => process.stderr.write(`[probe:pooler] ${message}\n`);

/** One column of the table: three calls, whatever sits behind them. */
interface Contender {
  readonly name: string;
  /** A fresh conversation of user `u<worker>` for the append workload. */
  newConversation(userId: string): Promise<string>;
  append(userId: string, conversationId: string): Promise<void>;
  latest(userId: string, conversationId: string): Promise<void>;
  get(userId: string, conversationId: string): Promise<void>;
  close(): Promise<void>;
}

function chatkeepContender(name: string, store: Store): Contender {
  return {
    name,
    newConversation: async (userId) => (await store.conversations.create(userId, { title: 'probe' })).id,
    append: async (userId, id) => {
      await store.turns.append(userId, id, { user: USER_TEXT, assistant: ASSISTANT_TEXT });
    },
    latest: async (userId, id) => {
      if ((await store.messages.list(userId, id, { limit: 100 })).messages.length !== 100) throw new Error(`${name}: short page`);
    },
    get: async (userId, id) => {
      await store.conversations.get(userId, id);
    },
    close: () => store.close(),
  };
}

function floorContender(name: string, url: string, named: boolean): Contender {
  const pool = loggedPool(url, log);
  const query = (key: string, text: string, values: unknown[]) => pool.query({ ...(named ? { name: key } : {}), text, values });
  return {
    name,
    newConversation: async (userId) => {
      const { rows } = await pool.query<{ id: string }>(
        'insert into raw.conversations (user_id, id) values ($1, gen_random_uuid()) returning id',
        [userId],
      );
      return rows[0]!.id;
    },
    append: async (userId, id) => {
      if ((await query('raw_append', RAW_APPEND_SQL, [userId, id, USER_TEXT, ASSISTANT_TEXT])).rows.length !== 2) throw new Error(`${name}: no conversation`);
    },
    latest: async (userId, id) => {
      if ((await query('raw_latest', RAW_LATEST_SQL, [userId, id, 100])).rows.length !== 100) throw new Error(`${name}: short page`);
    },
    get: async (userId, id) => {
      await query('raw_get', RAW_GET_SQL, [userId, id]);
    },
    close: () => pool.end(),
  };
}

interface Workload {
  readonly name: string;
  readonly run: (contender: Contender) => Promise<Sample>;
}

/** A pseudo-random seeded conversation per call, the same sequence for every contender. */
function seeded(i: number) {
  return seededConversation(SHAPE, (i * 7919) % SHAPE.conversations);
}

function workloads(): Workload[] {
  const reads = (concurrency: number, call: 'latest' | 'get'): Workload['run'] => (contender) => {
    const op: Operation = (worker, i) => {
      const c = seeded(i * concurrency + worker);
      return contender[call](c.userId, c.id);
    };
    return runCount({ concurrency, count: READS / 2, warmup: 200, maxMs: 20_000 }, op);
  };
  const appends = (concurrency: number): Workload['run'] => async (contender) => {
    const conversations = await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => ({ userId: `probe-u${w}`, id: await contender.newConversation(`probe-u${w}`) })),
    );
    return runForDuration({ concurrency, warmupMs: 500, durationMs: APPEND_MS / 2 }, (worker) =>
      contender.append(conversations[worker]!.userId, conversations[worker]!.id),
    );
  };
  return [
    { name: 'append turn, c = 1', run: appends(1) },
    { name: 'append turn, c = 8', run: appends(8) },
    { name: 'latest 100, c = 1', run: reads(1, 'latest') },
    { name: 'latest 100, c = 8', run: reads(8, 'latest') },
    { name: 'get a conversation, c = 1', run: reads(1, 'get') },
  ];
}

const admin = <T>(work: (client: pg.Client) => Promise<T>, url = ADMIN_URL) => withClient(url, work);

async function main(): Promise<void> {
  const server = new URL(ADMIN_URL);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DATABASE}`;
  const directUrl = url.toString();
  log(`database ${DATABASE} on ${server.host}: ${SHAPE.conversations} conversations × ${SHAPE.messagesPerConversation} messages`);
  await admin(async (c) => {
    await c.query(`drop database if exists ${DATABASE} with (force)`);
    await c.query(`create database ${DATABASE}`);
  });
  const owner = await openStore({ url: directUrl });
  await owner.close();
  await admin(async (c) => {
    for (const statement of [...chatkeepSeedSql(SHAPE, 'chatkeep'), ...RAW_DDL, ...rawSeedSql(SHAPE)]) await c.query(statement);
    await c.query('checkpoint');
  }, directUrl);
  const roleUrl = await prepareRlsRole(ADMIN_URL, directUrl, ROLE);
  const ownerUser = decodeURIComponent(server.username || 'postgres');
  const bouncer = await startPgBouncerProcess({
    host: server.hostname,
    port: Number(server.port || '5432'),
    mode: 'transaction',
    users: [ownerUser, ROLE],
    // One server session for each of a store's connections: the pooler's protocol cost, not its queueing.
    poolSize: 10,
  });
  log(`PgBouncer in transaction mode on 127.0.0.1:${bouncer.port}`);
  const contenders: Contender[] = [];
  try {
    const open = async (name: string, options: Parameters<typeof openStore>[0]) => {
      const store = await openStore({ ...options, migrate: false });
      contenders.push(chatkeepContender(name, store));
      return store;
    };
    await open('chatkeep, owner, direct', { url: directUrl });
    await open('chatkeep, owner, PgBouncer', { url: bouncer.through(directUrl), pooler: 'transaction' });
    const boundDirect = await open('chatkeep, RLS role, direct', { url: roleUrl });
    const boundPooled = await open('chatkeep, RLS role, PgBouncer', { url: bouncer.through(roleUrl), pooler: 'transaction' });
    if (!boundDirect.rowLevelSecurity || !boundPooled.rowLevelSecurity) throw new Error(`${ROLE} is not bound by row-level security`);
    contenders.push(floorContender('raw pg, direct (named)', directUrl, true));
    contenders.push(floorContender('raw pg, PgBouncer (unnamed)', bouncer.through(directUrl), false));

    const results = new Map<string, Map<string, { summary: Summary; interference: number | undefined }>>();
    for (const workload of workloads()) {
      const samples = new Map<string, Sample[]>();
      let worst: number | undefined;
      // Two rounds, the second in reverse order, so a drift of the machine weighs on every contender alike.
      for (const round of [contenders, [...contenders].reverse()]) {
        for (const contender of round) {
          const before = cpuSnapshot();
          const sample = await workload.run(contender);
          const other = otherCpuPercent(before, cpuSnapshot());
          if (other !== undefined) worst = Math.max(worst ?? 0, other);
          samples.set(contender.name, [...(samples.get(contender.name) ?? []), sample]);
        }
      }
      const row = new Map<string, { summary: Summary; interference: number | undefined }>();
      for (const [name, s] of samples) row.set(name, { summary: summarizeSamples(s), interference: worst });
      results.set(workload.name, row);
      log(`${workload.name}: done${worst !== undefined && worst > 10 ? ` (⚠ other processes used ${worst.toFixed(0)}% of the machine)` : ''}`);
    }
    report(results, contenders.map((c) => c.name));
  } finally {
    await Promise.all(contenders.map((c) => c.close()));
    await bouncer.close();
    await dropRlsRole(ADMIN_URL, directUrl, log, ROLE);
    await admin((c) => c.query(`drop database if exists ${DATABASE} with (force)`));
  }
}

function report(results: Map<string, Map<string, { summary: Summary; interference: number | undefined }>>, names: readonly string[]): void {
  const cell = (s: Summary) => `${Math.round(s.opsPerSec).toLocaleString('en-US')}/s · ${s.p50Ms.toFixed(2)} / ${s.p99Ms.toFixed(2)} ms`;
  const lines = [
    `Probe of ${new Date().toISOString()}: throughput · p50 / p99 latency.`,
    '',
    `| workload | ${names.join(' | ')} |`,
    `|---|${names.map(() => '---').join('|')}|`,
  ];
  for (const [workload, row] of results) {
    const flag = [...row.values()][0]?.interference;
    lines.push(`| ${workload}${flag !== undefined && flag > 10 ? ` ⚠${flag.toFixed(0)}%` : ''} | ${names.map((n) => cell(row.get(n)!.summary)).join(' | ')} |`);
  }
  lines.push('', 'Through PgBouncer ÷ direct (throughput; below 1 = the pooler costs), and p50 added:', '');
  const pairs = [
    ['chatkeep, owner', 'chatkeep, owner, direct', 'chatkeep, owner, PgBouncer'],
    ['chatkeep, RLS role', 'chatkeep, RLS role, direct', 'chatkeep, RLS role, PgBouncer'],
    ['raw pg', 'raw pg, direct (named)', 'raw pg, PgBouncer (unnamed)'],
  ] as const;
  lines.push(`| workload | ${pairs.map(([label]) => label).join(' | ')} |`, `|---|${pairs.map(() => '---').join('|')}|`);
  for (const [workload, row] of results) {
    const ratio = (direct: string, pooled: string) => {
      const d = row.get(direct)!.summary;
      const p = row.get(pooled)!.summary;
      return `${(p.opsPerSec / d.opsPerSec).toFixed(2)}× · ${p.p50Ms - d.p50Ms >= 0 ? '+' : '−'}${Math.abs(p.p50Ms - d.p50Ms).toFixed(2)} ms`;
    };
    lines.push(`| ${workload} | ${pairs.map(([, d, p]) => ratio(d, p)).join(' | ')} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
