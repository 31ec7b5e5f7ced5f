/**
 * Where a call's CPU goes: this Node process and PostgreSQL's processes, per
 * appended turn or per latest-50 history read, for chatkeep, the two raw-SQL
 * floors and LangChain, on one database in one run.
 *
 *   npm run probe:append-cpu        (append-turn; ~2 min; needs PostgreSQL)
 *   npm run probe:read-cpu          (latest-50 history read; ~2 min)
 *
 * History reads are where a regression of 2026-11 hid: wall-clock
 * throughput moved ±15 % between runs and hid a +50 µs Node CPU per read
 * (bench/README "The history-read regression"); CPU per call showed it.
 *
 * On 2 cores the append at concurrency 8 is CPU-bound: the client and the
 * server share the machine, so a turn's throughput is about 2 cores ÷ (its
 * client CPU + its server CPU). Throughput alone moves ±15 % from run to run
 * on these VMs; CPU per turn is steadier, and says which side to work on.
 *
 * PostgreSQL's share counts every postgres process on the machine, the
 * WAL writer and other databases' sessions included: run it on an otherwise
 * idle server. CPU of non-PostgreSQL processes is shown per row ("others").
 *
 * It drops and recreates the database `ck_bench_cpu` (BENCH_PG_URL's server,
 * default postgres://postgres@127.0.0.1:5432/postgres) and drops it at the end.
 */
import { randomUUID } from 'node:crypto';
import { openStore } from 'chatkeep';
import pg from 'pg';
import { loggedPool, withClient } from '../lib/connections.js';
import { cpuMicrosBetween, cpuSnapshot, otherCpuPercent } from '../lib/interference.js';
import { runForDuration } from '../lib/load.js';
import { chatkeepSeedSql, langchainSeedSql, RAW_DDL, rawSeedSql, seededConversation, type SeedShape } from '../lib/seed.js';
import { LangchainTarget, langchainTemplates, LANGCHAIN_TABLE } from '../targets/langchain.js';
import { RawOnChatkeepTarget } from '../targets/raw-on-chatkeep.js';
import { poolQueryable, RawSqlTarget } from '../targets/raw-sql.js';
import { ChatkeepTarget } from '../targets/chatkeep.js';
import type { ConversationRef, Target } from '../targets/target.js';
import { ASSISTANT_TEXT, USER_TEXT } from '../lib/turn-texts.js';

const ADMIN_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATABASE = 'ck_bench_cpu';
const SHAPE: SeedShape = { conversations: 2000, messagesPerConversation: 100, users: 200, bigConversation: 0 };
const WORKLOAD = process.argv[2] === 'latest' ? 'latest' : 'append';
const STRETCH_MS = Number(process.env['PROBE_APPEND_MS'] ?? process.env['PROBE_STRETCH_MS'] ?? 4000);
const PAGE = 50;
const ROUNDS = Number(process.env['PROBE_ROUNDS'] ?? 3);

const log = (message: string) => process.stderr.write(`[probe:${WORKLOAD === 'append' ? 'append' : 'read'}-cpu] ${message}\n`);

const admin = <T>(work: (client: pg.Client) => Promise<T>, url = ADMIN_URL) => withClient(url, work);

interface Tally {
  /** Calls made: turns appended or pages read. */
  turns: number;
  wallMs: number;
  nodeMicros: number;
  postgresMicros: number;
  /** The most CPU other processes used during one of its stretches, in % of the machine. */
  otherPercent: number;
}

async function measure(target: Target, concurrency: number, tally: Tally): Promise<void> {
  // Appends go to fresh conversations; reads to seeded ones of 100 messages, one per worker.
  const conversations: ConversationRef[] =
    WORKLOAD === 'append'
      ? await Promise.all(Array.from({ length: concurrency }, (_, w) => target.newConversation(`cpu-u${w}-${randomUUID().slice(0, 8)}`)))
      : Array.from({ length: concurrency }, (_, w) => seededConversation(SHAPE, w * 7));
  const call = async (w: number): Promise<void> => {
    if (WORKLOAD === 'append') return target.appendTurn(conversations[w]!, USER_TEXT, ASSISTANT_TEXT);
    const read = await target.latest(conversations[w]!, PAGE);
    if (read !== PAGE) throw new Error(`${target.name} read ${read} messages, not ${PAGE}`);
  };
  // Warm the pool and the plans outside the measured stretch.
  await runForDuration({ concurrency, warmupMs: 0, durationMs: 500 }, call);
  const from = cpuSnapshot();
  const sample = await runForDuration({ concurrency, warmupMs: 0, durationMs: STRETCH_MS }, call);
  const to = cpuSnapshot();
  if (from === undefined || to === undefined) throw new Error('CPU accounting needs Linux /proc');
  const cpu = cpuMicrosBetween(from, to);
  tally.turns += sample.latenciesMs.length;
  tally.wallMs += to.at - from.at;
  tally.nodeMicros += cpu.self;
  tally.postgresMicros += cpu.postgres;
  tally.otherPercent = Math.max(tally.otherPercent, otherCpuPercent(from, to) ?? 0);
}

async function main(): Promise<void> {
  await admin(async (c) => {
    await c.query(`drop database if exists ${DATABASE} with (force)`);
    await c.query(`create database ${DATABASE}`);
  });
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DATABASE}`;
  const dbUrl = url.toString();

  log('migrating and seeding (200,000 messages per target)…');
  const chatkeep = await ChatkeepTarget.open({ url: dbUrl });
  await admin(async (c) => {
    for (const sql of chatkeepSeedSql(SHAPE, 'chatkeep')) await c.query(sql);
    for (const sql of RAW_DDL) await c.query(sql);
    for (const sql of rawSeedSql(SHAPE)) await c.query(sql);
  }, dbUrl);
  const langchainPool = loggedPool(dbUrl, log);
  const langchain = new LangchainTarget(langchainPool);
  await langchain.createTable();
  await admin(async (c) => {
    for (const sql of langchainSeedSql(SHAPE, LANGCHAIN_TABLE, langchainTemplates())) await c.query(sql);
    await c.query('checkpoint');
  }, dbUrl);
  const rawPool = loggedPool(dbUrl, log);
  const rawCkPool = loggedPool(dbUrl, log);
  const targets: Target[] = [
    chatkeep,
    new RawOnChatkeepTarget(poolQueryable(rawCkPool), () => rawCkPool.end()),
    new RawSqlTarget(poolQueryable(rawPool), () => rawPool.end()),
    langchain,
  ];

  const rows: string[] = [];
  for (const concurrency of [1, 8]) {
    const tallies = new Map<string, Tally>(targets.map((t) => [t.name, { turns: 0, wallMs: 0, nodeMicros: 0, postgresMicros: 0, otherPercent: 0 }]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) {
        log(`c = ${concurrency}, round ${round + 1}/${ROUNDS}: ${target.name}`);
        await measure(target, concurrency, tallies.get(target.name)!);
      }
    }
    for (const target of targets) {
      const t = tallies.get(target.name)!;
      const node = t.nodeMicros / t.turns;
      const server = t.postgresMicros / t.turns;
      rows.push(
        `| ${concurrency} | ${target.name} | ${Math.round((t.turns * 1000) / t.wallMs).toLocaleString('en-US')}/s | ${node.toFixed(0)} µs | ${server.toFixed(0)} µs | ${(node + server).toFixed(0)} µs | ${t.otherPercent.toFixed(0)} % |`,
      );
    }
  }
  for (const target of targets) await target.close();
  await admin((c) => c.query(`drop database if exists ${DATABASE} with (force)`));

  process.stdout.write(
    [
      `${WORKLOAD === 'append' ? 'Append turn, CPU per turn' : `Latest-${PAGE} history read, CPU per read`} (${ROUNDS} rounds × ${STRETCH_MS / 1000} s per contender and concurrency, order alternated; PostgreSQL's processes counted in clock ticks; "others" = the most CPU other processes used in one stretch, a disturbed cell shows there):`,
      '',
      WORKLOAD === 'append'
        ? '| c | contender | turns/s | Node CPU per turn | PostgreSQL CPU per turn | sum | others |'
        : '| c | contender | reads/s | Node CPU per read | PostgreSQL CPU per read | sum | others |',
      '|---|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
}

await main();
