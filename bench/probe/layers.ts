/**
 * Where chatkeep's time goes, layer by layer, next to the raw-SQL floor.
 * Run after `npm run bench` (it uses the database ck_bench the run leaves
 * behind; PGlite gets a small store of its own):
 *
 *   npm run probe
 *
 * For latest-100 history and for append-turn it times:
 *   floor        the benchmark's raw-SQL statement on the raw tables
 *   chatkeep     the public API call, with the time inside the driver's
 *                query() (wrapped) split from the JavaScript around it
 *   chatkeep SQL chatkeep's own statement, captured from the driver and sent
 *                directly: the database's share, without chatkeep/Kysely/zod
 *   ladder       (append) chatkeep's statement on a copy of its tables with
 *                one feature removed at a time, cumulatively: what each costs
 * plus EXPLAIN ANALYZE of chatkeep's statements and CPU profiles of the calls.
 * Whatever chatkeep's SQL is at the time, the probe captures it; it assumes
 * only the public API and the table names.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PGlite } from '@electric-sql/pglite';
import { openStore, type Store } from 'chatkeep';
import pg from 'pg';
import { runCount, runForDuration, summarizeSamples, type Operation } from '../lib/load.js';
import { cpuSnapshot, otherCpuPercent } from '../lib/interference.js';
import { resolvePackage } from '../lib/machine.js';
import {
  chatkeepSeedSql,
  RAW_DDL,
  rawSeedSql,
  seededConversation,
  type SeedShape,
} from '../lib/seed.js';
import type { Summary } from '../lib/stats.js';
import { RAW_APPEND_SQL, RAW_LATEST_SQL } from '../targets/raw-sql.js';
import { formatProfile, profiled } from './profile.js';
import { ASSISTANT_TEXT, USER_TEXT } from '../lib/turn-texts.js';

const chatkeepUrl = import.meta.resolve('chatkeep');
const READS = Number(process.env['PROBE_READS'] ?? 1000);
const APPEND_MS = Number(process.env['PROBE_APPEND_MS'] ?? 3000);

// ---- the driver calls chatkeep makes, timed and captured ---------------------------------------

interface Captured {
  readonly text: string;
  readonly values: readonly unknown[];
}
const driver = { ms: 0, calls: 0, last: undefined as Captured | undefined };

/**
 * Wraps `proto.query` to time it and keep the last statement. Kysely calls
 * the promise form with a text; chatkeep's hot path calls `pool.query({ name,
 * text, values })`, which reaches the client as a config object with a
 * callback (the pool's), so both forms are captured and timed.
 */
function wrapQuery(proto: { query: (...args: unknown[]) => unknown }): void {
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    const first = args[0] as string | { text?: unknown; values?: unknown } | undefined;
    if (typeof first === 'string') {
      driver.last = { text: first, values: Array.isArray(args[1]) ? (args[1] as unknown[]) : [] };
    } else if (first !== null && typeof first === 'object' && typeof first.text === 'string') {
      driver.last = { text: first.text, values: Array.isArray(first.values) ? (first.values as unknown[]) : [] };
    }
    const done = () => {
      driver.ms += performance.now() - t0;
      driver.calls++;
    };
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = function (this: unknown, ...results: unknown[]) {
        done();
        return (callback as (...a: unknown[]) => unknown).apply(this, results);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args);
    if (result instanceof Promise) result.then(done, () => undefined);
    return result;
  };
}

/** chatkeep's own copy of a package (the root's node_modules), as chatkeep imports it. */
function chatkeepsOwn(name: string): string {
  const found = resolvePackage(name, chatkeepUrl);
  if (found === undefined) throw new Error(`${name} not found from ${chatkeepUrl}`);
  return found.importUrl;
}
type Queryish = { query: (...args: unknown[]) => unknown };
const ckPg = ((await import(chatkeepsOwn('pg'))) as { default: typeof pg }).default;
wrapQuery(ckPg.Client.prototype as unknown as Queryish);
const ckPglite = (await import(chatkeepsOwn('@electric-sql/pglite'))) as { PGlite: typeof PGlite };
wrapQuery(ckPglite.PGlite.prototype as unknown as Queryish);

// ---- helpers ------------------------------------------------------------------------------------

type Query = (text: string, values?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

const f3 = (v: number) => v.toFixed(3).padStart(7);
function line(label: string, s: Summary, extra = ''): void {
  console.log(
    `  ${label.padEnd(52)} mean ${f3(s.meanMs)} ms  p50 ${f3(s.p50Ms)}  p99 ${f3(s.p99Ms)}  ${s.opsPerSec.toFixed(0).padStart(5)}/s${extra}${otherNote()}`,
  );
}

/** Other processes' CPU share during the last measurement (see lib/interference.ts). */
let lastOther: number | undefined;
function otherNote(): string {
  return lastOther !== undefined && lastOther > 10
    ? `  ⚠ other processes ${lastOther.toFixed(0)}% CPU`
    : '';
}

async function reads(
  op: Operation,
  warmup = Math.min(200, READS / 5),
  count = READS,
): Promise<Summary> {
  const before = cpuSnapshot();
  const s = summarizeSamples([
    await runCount({ concurrency: 1, count, warmup, maxMs: 60_000 }, op),
  ]);
  lastOther = otherCpuPercent(before, cpuSnapshot());
  return s;
}

async function appends(
  op: Operation,
  concurrency: number,
  warmupMs = 500,
  durationMs = APPEND_MS,
): Promise<Summary> {
  const before = cpuSnapshot();
  const s = summarizeSamples([await runForDuration({ concurrency, warmupMs, durationMs }, op)]);
  lastOther = otherCpuPercent(before, cpuSnapshot());
  return s;
}

/** Runs `warm`, then times `work`, reporting the mean time per call spent inside the wrapped driver query(). */
async function withDriverShare(
  warm: () => Promise<unknown>,
  work: () => Promise<Summary>,
): Promise<{ s: Summary; driverMean: number }> {
  await warm();
  const before = { ms: driver.ms, calls: driver.calls };
  const s = await work();
  const calls = driver.calls - before.calls;
  return { s, driverMean: calls === 0 ? Number.NaN : (driver.ms - before.ms) / calls };
}

function driverNote(r: { s: Summary; driverMean: number }): string {
  return `   [inside driver query(): ${r.driverMean.toFixed(3)} ms; JS around it: ${(r.s.meanMs - r.driverMean).toFixed(3)} ms]`;
}

/** `values` with each value found in `map` replaced (fresh per call when the replacement is a function). */
function rebind(
  values: readonly unknown[],
  map: ReadonlyMap<unknown, unknown | (() => unknown)>,
): unknown[] {
  return values.map((v) => {
    if (!map.has(v)) return v;
    const r = map.get(v);
    return typeof r === 'function' ? (r as () => unknown)() : r;
  });
}

/** A turn statement must have written both messages; anything else means the probe is measuring nothing. */
async function twoRows(result: Promise<{ rows: Record<string, unknown>[] }>): Promise<void> {
  const { rows } = await result;
  if (rows.length !== 2) throw new Error(`a turn returned ${rows.length} rows, expected 2`);
}

async function explain(
  query: Query,
  text: string,
  values: unknown[],
  rollback: boolean,
): Promise<void> {
  if (rollback) await query('begin');
  try {
    const { rows } = await query(`explain (analyze, buffers) ${text}`, values);
    for (const r of rows) console.log(`    ${String(Object.values(r)[0])}`);
  } finally {
    if (rollback) await query('rollback');
  }
}

/**
 * The append cost ladder: a copy of chatkeep's two tables (columns, defaults,
 * CHECKs, generated column, indexes; then the foreign key added back) with
 * one feature taken away per step, cumulatively. Each step runs chatkeep's
 * captured turn statement on the copy.
 */
const LADDER: readonly { readonly label: string; readonly ddl: readonly string[] }[] = [
  {
    label: 'copy of chatkeep tables (same as chatkeep SQL)',
    ddl: [
      'drop schema if exists probe_variant cascade',
      'create schema probe_variant',
      'create table probe_variant.conversations (like chatkeep.conversations including all)',
      'create table probe_variant.messages (like chatkeep.messages including all)',
      // The same rows as chatkeep's tables, so index sizes and cache behaviour match.
      'insert into probe_variant.conversations select * from chatkeep.conversations',
      `insert into probe_variant.messages (user_id, conversation_id, seq, id, turn_id, role, content, metadata, created_at)
         select user_id, conversation_id, seq, id, turn_id, role, content, metadata, created_at from chatkeep.messages`,
      `alter table probe_variant.messages add constraint messages_conversation_fk foreign key (user_id, conversation_id)
         references probe_variant.conversations (user_id, id) on delete cascade`,
      'vacuum analyze probe_variant.conversations',
      'vacuum analyze probe_variant.messages',
    ],
  },
  {
    label: '− foreign key messages → conversations',
    ddl: ['alter table probe_variant.messages drop constraint messages_conversation_fk'],
  },
  {
    label: '− unique (user_id, id) index on messages',
    ddl: [
      `do $$ declare c text; begin
             select conname into c from pg_constraint where conrelid = 'probe_variant.messages'::regclass and contype = 'u';
             if c is not null then execute format('alter table probe_variant.messages drop constraint %I', c); end if;
           end $$`,
    ],
  },
  {
    label: '− CHECKs on messages',
    ddl: [
      `do $$ declare c text; begin
         for c in select conname from pg_constraint where conrelid = 'probe_variant.messages'::regclass and contype = 'c' loop
           execute format('alter table probe_variant.messages drop constraint %I', c);
         end loop;
       end $$`,
    ],
  },
  {
    // The column stays; new rows just no longer store a copy of content's first 100 characters.
    label: '− the stored generated summary column',
    ddl: ['alter table probe_variant.messages alter column summary drop expression'],
  },
  {
    label: '− conversations secondary index(es) (HOT updates)',
    ddl: [
      `do $$ declare i text; begin
             for i in select indexrelid::regclass::text from pg_index
                       where indrelid = 'probe_variant.conversations'::regclass and not indisprimary loop
               execute 'drop index ' || i;
             end loop;
           end $$`,
    ],
  },
];

// ---- the probe, for one backend -----------------------------------------------------------------

interface Side {
  readonly name: string;
  /** The floor's connection (raw tables). */
  readonly floor: Query;
  /** A connection to chatkeep's own tables, for its SQL without chatkeep (the store is closed by then). */
  readonly direct: () => Promise<{ query: Query; named?: Query; close: () => Promise<void> }>;
  readonly shape: SeedShape;
  readonly store: Store;
  readonly explain: boolean;
  /** PostgreSQL: the current WAL position in bytes (for WAL written per turn). */
  readonly walBytes?: () => Promise<number>;
  /** PostgreSQL: CHECKPOINT, so every ladder step starts with the same full-page-write state. */
  readonly checkpoint?: () => Promise<unknown>;
}

async function probe(side: Side): Promise<void> {
  const { shape, store } = side;
  const keys = Array.from({ length: READS * 2 }, (_, i) =>
    seededConversation(shape, (i * 7919) % shape.conversations),
  );
  let k = 0;
  const nextKey = () => keys[k++ % keys.length] as { userId: string; id: string };

  // -- history through the API
  console.log(
    `\n== ${side.name}: latest 100 of a random 100-message conversation, concurrency 1, n=${READS}`,
  );
  // Every history variant reads the same READS conversations twice and
  // reports the second pass: a first pass would mostly time reading pages
  // into the cache, and whichever variant ran first would pay for it.
  const floorRead = () => {
    const c = nextKey();
    return side.floor(RAW_LATEST_SQL, [c.userId, c.id, 100]);
  };
  await reads(floorRead);
  k = 0;
  line('floor: raw SQL (warm)', await reads(floorRead));
  k = 0;
  let listKey: { userId: string; id: string } | undefined;
  const first = seededConversation(shape, 0);
  const listOnce = () => {
    const c = nextKey();
    listKey = c;
    return store.messages.list(c.userId, c.id, { limit: 100 });
  };
  const listed = await withDriverShare(
    async () => {
      await reads(() => store.messages.list(first.userId, first.id, { limit: 100 }), 0);
      await reads(listOnce, 0);
      k = 0;
    },
    () => reads(listOnce, 0),
  );
  line('chatkeep: store.messages.list (warm)', listed.s, driverNote(listed));
  // Profiled separately: the sampling profiler slows JavaScript down, so it must not be in the timings.
  const listProfile = (await profiled(() => reads(listOnce, 0, Math.min(READS, 500)))).profile;
  const historySql = driver.last;
  const historyKey = listKey;
  if (historySql === undefined || historyKey === undefined)
    throw new Error('no history SQL captured');
  const historyValues = (c: { userId: string; id: string }) =>
    rebind(
      historySql.values,
      new Map([
        [historyKey.userId, c.userId],
        [historyKey.id, c.id],
      ]),
    );

  // -- append through the API
  console.log(`\n== ${side.name}: append turn`);
  const ckConvs = await Promise.all(
    Array.from({ length: 8 }, (_, w) =>
      store.conversations.create(`probe-${w}`, { title: 'probe' }),
    ),
  );
  const rawConvs = await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      const { rows } = await side.floor(
        'insert into raw.conversations (user_id, id) values ($1, gen_random_uuid()) returning id',
        [`probe-${w}`],
      );
      return { userId: `probe-${w}`, id: String(rows[0]?.['id']) };
    }),
  );
  let lastTurn: { user: string; conversation: string; turn: string; messages: readonly string[] } | undefined;
  const rawAppend = (w: number) =>
    side.floor(RAW_APPEND_SQL, [rawConvs[w]?.userId, rawConvs[w]?.id, USER_TEXT, ASSISTANT_TEXT]);
  const ckAppend = async (w: number) => {
    const conversation = ckConvs[w]?.id ?? '';
    const turn = await store.turns.append(`probe-${w}`, conversation, {
      user: USER_TEXT,
      assistant: ASSISTANT_TEXT,
    });
    lastTurn = { user: `probe-${w}`, conversation, turn: turn.id, messages: [turn.userMessage.id, turn.assistantMessage.id] };
  };
  const profiles: string[] = [formatProfile('store.messages.list, concurrency 1', listProfile)];
  for (const c of [1, 8]) {
    line(`floor: raw SQL, concurrency ${c}`, await appends(rawAppend, c));
    const r = await withDriverShare(
      () => appends(ckAppend, c, 0, 500),
      () => appends(ckAppend, c, 0),
    );
    line(`chatkeep: store.turns.append, concurrency ${c}`, r.s, driverNote(r));
    const p = await profiled(() => appends(ckAppend, c, 0, 1500));
    profiles.push(formatProfile(`store.turns.append, concurrency ${c}`, p.profile));
  }
  if (side.walBytes !== undefined) {
    const wal = side.walBytes;
    const perTurn = async (op: (w: number) => Promise<unknown>) => {
      const n = 500;
      const before = await wal();
      for (let i = 0; i < n; i++) await op(0);
      return (await wal()) - before;
    };
    const floorWal = await perTurn(rawAppend);
    const ckWal = await perTurn(ckAppend);
    console.log(
      `  WAL written per turn (500 turns, c=1): floor ${(floorWal / 500).toFixed(0)} B, chatkeep ${(ckWal / 500).toFixed(0)} B`,
    );
  }
  const appendSql = driver.last;
  const appended = lastTurn;
  if (appendSql === undefined || appended === undefined) throw new Error('no append SQL captured');
  for (const p of profiles) console.log(p);

  // -- chatkeep's SQL without chatkeep (PGlite: the store must be closed to open its folder)
  await store.close();
  const direct = await side.direct();
  try {
    console.log(`\n== ${side.name}: chatkeep's own SQL sent directly (no chatkeep, Kysely or zod)`);
    console.log(`  history statement:\n${historySql.text.replace(/^/gm, '    ')}`);
    k = 0;
    line(
      'history: chatkeep SQL (warm)',
      await reads(() => {
        const c = nextKey();
        return direct.query(historySql.text, historyValues(c));
      }),
    );
    if (direct.named !== undefined) {
      const named = direct.named;
      k = 0;
      line(
        'history: chatkeep SQL as a named prepared statement',
        await reads(() => {
          const c = nextKey();
          return named(historySql.text, historyValues(c));
        }),
      );
    }
    if (side.explain) {
      console.log('  EXPLAIN ANALYZE, chatkeep history SQL:');
      await explain(
        direct.query,
        historySql.text,
        historyValues(seededConversation(shape, 1)),
        false,
      );
    }

    console.log(`  append statement:\n${appendSql.text.replace(/^/gm, '    ')}`);
    const appendValues = (user: string, conversation: string) =>
      rebind(
        appendSql.values,
        new Map<unknown, unknown>([
          [appended.user, user],
          [appended.conversation, conversation],
          [appended.turn, () => randomUUID()],
          // Message ids are unique per user: each replayed turn needs new ones.
          ...appended.messages.map((id): [unknown, () => string] => [id, () => randomUUID()]),
        ]),
      );
    const ckDirect = (w: number) =>
      twoRows(direct.query(appendSql.text, appendValues(`probe-${w}`, ckConvs[w]?.id ?? '')));
    for (const c of [1, 8])
      line(`append: chatkeep SQL, concurrency ${c}`, await appends(ckDirect, c));
    if (direct.named !== undefined) {
      const named = direct.named;
      const ckNamed = (w: number) =>
        twoRows(named(appendSql.text, appendValues(`probe-${w}`, ckConvs[w]?.id ?? '')));
      for (const c of [1, 8])
        line(
          `append: chatkeep SQL as a named prepared statement, c=${c}`,
          await appends(ckNamed, c),
        );
    }
    if (side.explain) {
      console.log('  EXPLAIN ANALYZE, chatkeep append SQL (rolled back):');
      await explain(
        direct.query,
        appendSql.text,
        appendValues('probe-0', ckConvs[0]?.id ?? ''),
        true,
      );
    }

    console.log(
      `\n== ${side.name}: append cost ladder (chatkeep's statement on a copy of its tables and rows, features removed cumulatively; checkpoint before each step)`,
    );
    const toCopy = (text: string) =>
      text.replaceAll('"chatkeep".', '"probe_variant".').replaceAll('chatkeep.', 'probe_variant.');
    const onCopy = toCopy(appendSql.text);
    for (const step of LADDER) {
      for (const ddl of step.ddl) await direct.query(ddl);
      if (step === LADDER[0]) {
        // chatkeep's functions (e.g. one that writes a turn) and its sequence, re-pointed at the copy.
        await direct.query('create sequence probe_variant.conversation_activity_seq');
        const { rows } = await direct.query(
          `select pg_get_functiondef(p.oid) as def from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = 'chatkeep' and p.prokind = 'f'`,
        );
        for (const r of rows) await direct.query(toCopy(String(r['def'])));
      }
      await side.checkpoint?.();
      const convs = await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          const { rows } = await direct.query(
            'insert into probe_variant.conversations (user_id) values ($1) returning id',
            [`probe-${w}`],
          );
          return String(rows[0]?.['id']);
        }),
      );
      const op = (w: number) =>
        twoRows(direct.query(onCopy, appendValues(`probe-${w}`, convs[w] ?? '')));
      const c1 = await appends(op, 1);
      const c8 = await appends(op, 8);
      line(`${step.label}, c=1`, c1);
      line(`${step.label}, c=8`, c8);
    }
    await direct.query('drop schema probe_variant cascade');
  } finally {
    await direct.close();
  }
}

// ---- PostgreSQL: the benchmark's database -------------------------------------------------------

async function postgres(): Promise<void> {
  const url = process.env['PROBE_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/ck_bench';
  const floorPool = new pg.Pool({ connectionString: url, max: 10 });
  const { rows } = await floorPool.query<{ c: number; u: number; n: number }>(
    `select count(*)::int as c, count(distinct user_id)::int as u,
            (select count(*)::int from chatkeep.messages) as n
       from chatkeep.conversations where user_id ~ '^u[0-9]+$'`,
  );
  const info = rows[0] ?? { c: 0, u: 1, n: 0 };
  console.log(`PostgreSQL ${url}: ${info.n} chatkeep messages, ${info.c} seeded conversations`);
  const store = await openStore({ url });
  const directPool = new pg.Pool({ connectionString: url, max: 10 });
  await probe({
    name: 'PostgreSQL',
    // As in the benchmark: the floor's statements are named (prepared once per connection).
    floor: (t, v) =>
      floorPool.query({
        name: `f${createHash('sha1').update(t).digest('hex').slice(0, 16)}`,
        text: t,
        values: v ?? [],
      }),
    direct: () =>
      Promise.resolve({
        query: (t, v) => directPool.query(t, v),
        named: (t, v) =>
          directPool.query({
            name: `d${createHash('sha1').update(t).digest('hex').slice(0, 16)}`,
            text: t,
            values: v ?? [],
          }),
        close: () => directPool.end(),
      }),
    shape: {
      conversations: info.c,
      users: info.u,
      messagesPerConversation: 100,
      bigConversation: 0,
    },
    store,
    explain: true,
    walBytes: async () => {
      const r = await floorPool.query<{ b: string }>(
        `select (pg_current_wal_lsn() - '0/0'::pg_lsn)::text as b`,
      );
      return Number(r.rows[0]?.b ?? 0);
    },
    checkpoint: () => floorPool.query('checkpoint'),
  });
  await floorPool.end();
}

// ---- PGlite: a small store of its own -----------------------------------------------------------

async function pglite(): Promise<void> {
  const shape: SeedShape = {
    conversations: 2000,
    users: 200,
    messagesPerConversation: 100,
    bigConversation: 1000,
  };
  const root = mkdtempSync(join(os.tmpdir(), 'ck-probe-'));
  try {
    const ckDir = join(root, 'chatkeep');
    await (await openStore({ dataDir: ckDir })).close();
    const seed = await PGlite.create(ckDir);
    for (const s of chatkeepSeedSql(shape, 'chatkeep')) await seed.exec(s);
    await seed.close();
    const floorDb = await PGlite.create(join(root, 'raw'));
    for (const s of [...RAW_DDL, ...rawSeedSql(shape)]) await floorDb.exec(s);
    console.log(
      `\nPGlite ${root}: ${shape.conversations} conversations × 100 in each of chatkeep's and the floor's folders`,
    );
    const store = await openStore({ dataDir: ckDir });
    await probe({
      name: 'PGlite',
      floor: (t, v) => floorDb.query(t, v),
      direct: async () => {
        const db = await PGlite.create(ckDir);
        return { query: (t, v) => db.query(t, v), close: () => db.close() };
      },
      shape,
      store,
      explain: true,
    });
    await floorDb.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.env['PROBE_SKIP_POSTGRES'] !== '1') await postgres();
if (process.env['PROBE_SKIP_PGLITE'] !== '1') await pglite();
