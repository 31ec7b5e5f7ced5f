/**
 * chatkeep's HTTP benchmark: throughput and p50/p99 latency of append-turn
 * and read-history through the HTTP server (a child process, load from wrk
 * or autocannon on loopback), next to the same workload at library level in the
 * same run, on the same database, at the same concurrency — so the server's
 * overhead is a visible ratio. On PGlite and PostgreSQL. See ../README.md,
 * section "HTTP server".
 *
 *   cd bench && npm install && npm run bench:http
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openStore, type Store } from 'chatkeep';
import pg from 'pg';
import { cpuSnapshot, otherCpuPercent } from '../lib/interference.js';
import { runForDuration } from '../lib/load.js';
import { cpus, gitDescribe, memory, osName, packageVersion } from '../lib/machine.js';
import { DISTURBED_PCT } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { loadHttpPlan, POSTGRES_ONLY, type VariantId } from './http-plan.js';
import {
  renderHttpMachine,
  renderHttpMarkdown,
  updateReadmeBlock,
  VARIANT_LABELS,
} from './http-report.js';
import type {
  HttpBackend,
  HttpBackendInfo,
  HttpMeasurement,
  HttpRunResult,
  HttpWorkload,
} from './http-results.js';
import {
  ASSISTANT_TEXT,
  seedThroughLibrary,
  USER_TEXT,
  type OwnedConversation,
} from './http-seed.js';
import type { HttpRequestSpec } from './load-generator.js';
import { chooseLoadGenerator } from './choose-load-generator.js';
import { startCliServer } from './cli-server-child.js';
import { processTreeCpuSeconds } from './process-cpu.js';
import { startServerChild, type ServerChild } from './server-child.js';
import type { ServerProcessConfig } from './server-process.js';
import { picker } from './random-keys.js';
import { jwtsFor } from './tokens.js';

/** The command of this run, with the BENCH_* settings it was given. */
const COMMAND = `cd bench && ${Object.entries(process.env)
  .filter(([k]) => k.startsWith('BENCH_'))
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([k, v]) => `${k}=${v ?? ''} `)
  .join('')}npm run bench:http`;
const here = dirname(fileURLToPath(import.meta.url));
const benchDir = join(here, '..');
const started = performance.now();
const startedAt = new Date().toISOString();
const plan = loadHttpPlan();
const loadAtStart = os.loadavg()[0] ?? 0;
const builtFrom = gitDescribe(join(benchDir, '..'));
const JWT_SECRET = randomBytes(32).toString('hex');
/** The rate limiter stays on (every request pays for it, as in production) with a limit no run reaches. */
const RATE_LIMIT_MAX = 1_000_000_000;
/** The same for `chatkeep serve`, whose --rate-limit accepts at most 1,000,000 per user per minute (one user sends ~3,600/min at 6,000 requests/s over 100 users). */
const CLI_RATE_LIMIT = 1_000_000;
/** The CLI the `jwt-2-workers` variant runs, built by `npm run build:chatkeep`. */
const CLI_MAIN = join(benchDir, '..', 'dist', 'cli', 'main.js');
const LOG_FILE = process.env['BENCH_HTTP_LOG_FILE'] ?? '/dev/null';
const keep = process.env['BENCH_HTTP_KEEP'] === '1';

function log(message: string): void {
  const s = Math.round((performance.now() - started) / 1000);
  const stamp = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  process.stderr.write(`[${stamp}] ${message}\n`);
}

const loadGenerator = chooseLoadGenerator(log);

interface Cell {
  readonly workload: HttpWorkload;
  readonly concurrency: number;
  /** Seed of the (user, conversation) sequence; the same at library and HTTP level. */
  readonly seed: number;
}

const CELLS: readonly Cell[] = [
  ...plan.readConcurrency.map((c) => ({
    workload: 'read-history' as const,
    concurrency: c,
    seed: 1000 + c,
  })),
  ...plan.appendConcurrency.map((c) => ({
    workload: 'append-turn' as const,
    concurrency: c,
    seed: 2000 + c,
  })),
];

const durationPlan = (c: number) => ({
  concurrency: c,
  warmupMs: plan.warmupMs,
  durationMs: plan.measureMs,
});

/**
 * Runs `measure` up to 1 + plan.retries times while other processes used more
 * than DISTURBED_PCT of the machine, keeping the least disturbed attempt.
 */
async function leastDisturbed(
  what: string,
  measure: () => Promise<HttpMeasurement>,
): Promise<HttpMeasurement> {
  let best: HttpMeasurement | undefined;
  for (let attempt = 0; attempt <= plan.retries; attempt++) {
    const m = await measure();
    if (best === undefined || (m.otherCpuPct ?? 0) < (best.otherCpuPct ?? 0)) best = m;
    if ((m.otherCpuPct ?? 0) <= DISTURBED_PCT) break;
    if (attempt < plan.retries)
      log(`  ${what}: disturbed (other processes ${Math.round(m.otherCpuPct ?? 0)}% CPU); again`);
  }
  return best as HttpMeasurement;
}

function describe(m: HttpMeasurement): string {
  const s = m.summary;
  return (
    `${s.opsPerSec.toFixed(0)}/s, p50 ${s.p50Ms.toFixed(2)} ms, p99 ${s.p99Ms.toFixed(2)} ms (n=${s.ops})` +
    (m.serverCores === undefined
      ? ''
      : `, server ${m.serverCores.toFixed(2)} cores, load generator ${(m.clientCores ?? 0).toFixed(2)}`) +
    (m.otherCpuPct === undefined ? '' : `, other processes ${m.otherCpuPct.toFixed(0)}% CPU`) +
    ((m.unexpected ?? 0) > 0 ? `, UNEXPECTED STATUSES ${JSON.stringify(m.statuses)}` : '')
  );
}

/** The library level: the workload as a closed loop in this process, on the open store. */
async function libraryCell(
  backend: HttpBackend,
  store: Store,
  cell: Cell,
  conversations: readonly OwnedConversation[],
): Promise<HttpMeasurement> {
  const pick = picker(conversations, cell.seed);
  let wrongPages = 0;
  const before = cpuSnapshot();
  const sample = await runForDuration(durationPlan(cell.concurrency), async () => {
    const c = pick();
    if (cell.workload === 'read-history') {
      const page = await store.messages.list(c.userId, c.conversationId, { limit: plan.pageSize });
      if (page.messages.length !== plan.pageSize) wrongPages++;
    } else {
      await store.turns.append(c.userId, c.conversationId, {
        user: USER_TEXT,
        assistant: ASSISTANT_TEXT,
      });
    }
  });
  if (wrongPages > 0)
    throw new Error(`library: ${wrongPages} history pages were not ${plan.pageSize} messages long`);
  const otherCpuPct = otherCpuPercent(before, cpuSnapshot());
  return {
    backend,
    workload: cell.workload,
    concurrency: cell.concurrency,
    level: 'library',
    summary: summarize(sample.latenciesMs, sample.elapsedMs),
    ...(otherCpuPct === undefined ? {} : { otherCpuPct }),
  };
}

/** The HTTP level: the same workload through the server in its child process, load from `loadGenerator`. */
async function httpCell(
  backend: HttpBackend,
  server: ServerChild,
  variant: VariantId,
  cell: Cell,
  conversations: readonly OwnedConversation[],
  tokens: ReadonlyMap<string, string>,
): Promise<HttpMeasurement> {
  const pick = picker(conversations, cell.seed);
  const appendBody = JSON.stringify({ user: USER_TEXT, assistant: ASSISTANT_TEXT });
  const next = (): HttpRequestSpec => {
    const c = pick();
    const authorization = `Bearer ${tokens.get(c.userId) ?? ''}`;
    return cell.workload === 'read-history'
      ? {
          method: 'GET',
          path: `/v1/conversations/${c.conversationId}/messages?limit=${plan.pageSize}`,
          headers: { authorization },
        }
      : {
          method: 'POST',
          path: `/v1/conversations/${c.conversationId}/turns`,
          headers: { authorization, 'content-type': 'application/json' },
          body: appendBody,
        };
  };
  const applyLoad = loadGenerator.prepare(
    server.url,
    durationPlan(cell.concurrency),
    cell.workload === 'read-history' ? 200 : 201,
    next,
  );
  const before = cpuSnapshot();
  // The whole process tree: with serve --workers the requests are served by
  // the primary's children, which would otherwise count as "other processes".
  const serverBefore = processTreeCpuSeconds(server.pid);
  const selfBefore = process.cpuUsage();
  const t0 = performance.now();
  const outcome = await applyLoad();
  const wall = (performance.now() - t0) / 1000;
  const serverAfter = processTreeCpuSeconds(server.pid);
  const self = process.cpuUsage(selfBefore);
  const serverSeconds =
    serverBefore === undefined || serverAfter === undefined
      ? undefined
      : serverAfter - serverBefore;
  const other = otherCpuPercent(before, cpuSnapshot());
  // lib/interference.ts counts child processes as "other": the server's
  // processes and, when it is wrk, the load generator are part of what is
  // measured here.
  const ours = (serverSeconds ?? 0) + (outcome.childCpuSeconds ?? 0);
  const otherCpuPct =
    other === undefined
      ? undefined
      : Math.max(0, other - (100 * ours) / (wall * os.availableParallelism()));
  for (const note of outcome.notes) log(`  ${loadGenerator.id}: ${note}`);
  return {
    backend,
    workload: cell.workload,
    concurrency: cell.concurrency,
    level: variant,
    summary: outcome.summary,
    ...(otherCpuPct === undefined ? {} : { otherCpuPct }),
    ...(serverSeconds === undefined ? {} : { serverCores: serverSeconds / wall }),
    // The load generator's CPU: this process for autocannon, wrk's own process for wrk.
    ...(loadGenerator.inBenchProcess
      ? { clientCores: (self.user + self.system) / 1e6 / wall }
      : outcome.childCpuSeconds === undefined
        ? {}
        : { clientCores: outcome.childCpuSeconds / wall }),
    statuses: outcome.statuses,
    unexpected: outcome.unexpected,
    errors: outcome.errors,
    meanResponseBytes: outcome.meanResponseBytes,
  };
}

/**
 * Before the load: one page through the server must be the page the library
 * returns (same messages), and another user's token must get 404 — so the
 * numbers are for requests that really were authenticated and answered.
 */
async function sanityCheck(
  server: ServerChild,
  conversations: readonly OwnedConversation[],
  tokens: ReadonlyMap<string, string>,
): Promise<number> {
  const first = conversations[0] as OwnedConversation;
  const stranger = conversations.find((c) => c.userId !== first.userId);
  const path = `/v1/conversations/${first.conversationId}/messages?limit=${plan.pageSize}`;
  const own = await fetch(`${server.url}${path}`, {
    headers: { authorization: `Bearer ${tokens.get(first.userId) ?? ''}` },
  });
  const text = await own.text();
  const page = JSON.parse(text) as { messages?: unknown[] };
  if (own.status !== 200 || page.messages?.length !== plan.pageSize) {
    throw new Error(
      `sanity check: GET ${path} answered ${own.status} with ${page.messages?.length} messages`,
    );
  }
  if (stranger !== undefined) {
    const other = await fetch(`${server.url}${path}`, {
      headers: { authorization: `Bearer ${tokens.get(stranger.userId) ?? ''}` },
    });
    await other.arrayBuffer();
    if (other.status !== 404)
      throw new Error(`sanity check: another user's token got ${other.status}, not 404`);
  }
  return Buffer.byteLength(text);
}

interface BackendRun {
  readonly info: HttpBackendInfo;
  readonly measurements: HttpMeasurement[];
  readonly pageBytes: number;
}

/**
 * One backend: seed through the library, measure every cell at library level
 * in this process, close the store, then start the server on the same
 * database in a child process and measure every cell over HTTP. Never both at
 * once: PGlite allows one process per data folder.
 */
async function runBackend(
  backend: HttpBackend,
  storeConfig: ServerProcessConfig['store'],
  location: string,
  checkpoint: () => Promise<void>,
): Promise<BackendRun> {
  log(`${backend}: opening the store (migrates) and seeding through the library`);
  let store = await openStore(storeConfig);
  const t0 = performance.now();
  const conversations = await seedThroughLibrary(store, plan, (done, total) =>
    log(`${backend}: seeded ${done} of ${total} turns`),
  );
  const seedSeconds = Math.round((performance.now() - t0) / 100) / 10;
  const users = [...new Set(conversations.map((c) => c.userId))];
  log(`${backend}: seeded ${conversations.length * plan.turns * 2} messages in ${seedSeconds} s`);
  const jwts = await jwtsFor(users, JWT_SECRET);
  const apiKeys = new Map<string, string>();
  if (plan.variants.includes('api-key')) {
    for (const user of users)
      apiKeys.set(user, (await store.apiKeys.create(user, { name: 'bench' })).secret);
  }
  log(`${backend}: checkpoint and sync`);
  await checkpoint();
  if (backend === 'PGlite') {
    // Closing PGlite checkpoints its data folder.
    await store.close();
    store = await openStore(storeConfig);
  }
  execFileSync('sync');

  const measurements: HttpMeasurement[] = [];
  for (const cell of CELLS) {
    log(
      `${backend} · library · ${cell.workload}, c=${cell.concurrency} (load ${(os.loadavg()[0] ?? 0).toFixed(2)})`,
    );
    const m = await leastDisturbed('library', () =>
      libraryCell(backend, store, cell, conversations),
    );
    log(`  ${describe(m)}`);
    measurements.push(m);
  }
  await store.close();

  let pageBytes = Number.NaN;
  const notes: string[] = [];
  for (const variant of plan.variants) {
    if (POSTGRES_ONLY.has(variant) && !('url' in storeConfig)) {
      notes.push(
        `Not measured here: ${VARIANT_LABELS[variant]} (\`${variant}\`) — \`serve --workers\` needs PostgreSQL (the embedded database lives in one process).`,
      );
      log(`${backend}: skipping ${variant}: serve --workers needs PostgreSQL`);
      continue;
    }
    log(`${backend}: starting the server (${VARIANT_LABELS[variant]})`);
    const server = await startServer(variant, storeConfig);
    try {
      const tokens = variant === 'api-key' ? apiKeys : jwts;
      pageBytes = await sanityCheck(server, conversations, tokens);
      log(
        `${backend}: server at ${server.url} (pid ${server.pid}); a ${plan.pageSize}-message page is ${pageBytes} bytes of JSON`,
      );
      for (const cell of CELLS) {
        log(
          `${backend} · HTTP ${VARIANT_LABELS[variant]} · ${cell.workload}, c=${cell.concurrency} (load ${(os.loadavg()[0] ?? 0).toFixed(2)})`,
        );
        const m = await leastDisturbed('HTTP', () =>
          httpCell(backend, server, variant, cell, conversations, tokens),
        );
        log(`  ${describe(m)}`);
        measurements.push(m);
      }
    } finally {
      await server.stop();
    }
  }
  return {
    info: {
      backend,
      location,
      messages: conversations.length * plan.turns * 2,
      conversations: conversations.length,
      users: users.length,
      seedSeconds,
      ...(notes.length > 0 ? { notes } : {}),
    },
    measurements,
    pageBytes,
  };
}

/**
 * The server a variant measures: chatkeep's real CLI for `jwt-2-workers`
 * (`serve --workers 2`, its stdout — banner and request log — to a temporary file),
 * the bare node:http floor (http/floor-process.ts) for `floor`, else
 * http/server-process.ts (buildServer in one process, log to LOG_FILE).
 */
function startServer(
  variant: VariantId,
  storeConfig: ServerProcessConfig['store'],
): Promise<ServerChild> {
  if (variant === 'jwt-2-workers') {
    if (!('url' in storeConfig)) throw new Error(`${variant} needs PostgreSQL`);
    return startCliServer({
      main: CLI_MAIN,
      databaseUrl: storeConfig.url,
      workers: 2,
      jwtSecret: JWT_SECRET,
      rateLimit: CLI_RATE_LIMIT,
    });
  }
  return startServerChild(
    {
      store: storeConfig,
      jwtSecret: JWT_SECRET,
      log: variant === 'jwt-no-log' || variant === 'floor' ? 'off' : { level: 'info', file: LOG_FILE },
      rateLimitMax: RATE_LIMIT_MAX,
      ...(variant === 'jwt-db-limit' ? { rateLimitScope: 'database' as const } : {}),
    },
    variant === 'floor' ? 'floor-process.ts' : 'server-process.ts',
  );
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function postgresBackend(versions: Record<string, string>): Promise<BackendRun> {
  const adminUrl = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = process.env['BENCH_HTTP_PG_DATABASE'] ?? 'ck_bench_http';
  if (!/^[a-z_][a-z0-9_]*$/.test(dbName))
    throw new Error(`BENCH_HTTP_PG_DATABASE: not a plain identifier: ${dbName}`);
  const url = withDatabase(adminUrl, dbName);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    log(`PostgreSQL: recreating database ${dbName}`);
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.query(`create database ${dbName}`);
    const { rows } = await admin.query<{ v: string }>(
      "select current_setting('server_version') as v",
    );
    versions['PostgreSQL'] = rows[0]?.v ?? 'unknown';
    const result = await runBackend(
      'PostgreSQL',
      { url },
      `PostgreSQL ${versions['PostgreSQL']} at ${new URL(url).host}, database ${dbName} (${keep ? 'kept' : 'dropped'} after the run); chatkeep's default pool of 10 connections in the library and in the server`,
      async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query('vacuum analyze');
        await c.query('checkpoint');
        await c.end();
      },
    );
    return result;
  } finally {
    if (!keep) await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
}

async function pgliteBackend(): Promise<BackendRun> {
  const root = mkdtempSync(join(os.tmpdir(), 'ck-bench-http-'));
  const dataDir = join(root, 'data');
  try {
    return await runBackend(
      'PGlite',
      { dataDir },
      `PGlite (the embedded default), file-backed data folder under ${os.tmpdir()} (${keep ? `kept at ${dataDir}` : 'deleted after the run'}); at library level in the bench process, over HTTP in the server process`,
      async () => {},
    );
  } finally {
    if (!keep) rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  log(`plan: ${JSON.stringify(plan)}`);
  const idleFrom = cpuSnapshot();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const busy = otherCpuPercent(idleFrom, cpuSnapshot());
  if (busy !== undefined && busy > DISTURBED_PCT) {
    log(
      `warning: other processes are using ${busy.toFixed(0)}% of the machine's CPU; numbers will be disturbed (cells get ⚠)`,
    );
  }
  const versions: Record<string, string> = {};
  const runs: BackendRun[] = [];
  if (process.env['BENCH_SKIP_PGLITE'] !== '1') runs.push(await pgliteBackend());
  if (process.env['BENCH_SKIP_POSTGRES'] !== '1') runs.push(await postgresBackend(versions));

  const measurements = runs.flatMap((r) => r.measurements);
  const invalid: string[] = [];
  for (const m of measurements) {
    if ((m.unexpected ?? 0) > 0 || (m.errors ?? 0) > 0) {
      invalid.push(
        `${m.backend} ${m.workload} c=${m.concurrency} (${VARIANT_LABELS[m.level as VariantId]}): statuses ${JSON.stringify(m.statuses)}, ${m.errors ?? 0} connection errors`,
      );
    }
  }
  const chatkeepUrl = import.meta.resolve('chatkeep');
  const pageBytes = runs.map((r) => r.pageBytes).find((b) => Number.isFinite(b));
  const result: HttpRunResult = {
    startedAt,
    runSeconds: Math.round((performance.now() - started) / 1000),
    command: COMMAND,
    plan: {
      users: plan.users,
      conversationsPerUser: plan.conversationsPerUser,
      turns: plan.turns,
      pageSize: plan.pageSize,
      warmupSeconds: plan.warmupMs / 1000,
      measuredSeconds: plan.measureMs / 1000,
      readConcurrency: plan.readConcurrency.join('/'),
      appendConcurrency: plan.appendConcurrency.join('/'),
      variants: plan.variants.join('/'),
      loadGenerator: loadGenerator.id,
    },
    machine: {
      CPU: cpus(),
      memory: memory(),
      OS: osName(),
      'Node.js': process.version,
      PostgreSQL: versions['PostgreSQL'] ?? 'not measured',
      PGlite: `@electric-sql/pglite ${packageVersion('@electric-sql/pglite', chatkeepUrl)}`,
      chatkeep: `${packageVersion('chatkeep')} built from ${builtFrom} (dist/, via "chatkeep": "file:..")`,
      server:
        `fastify ${packageVersion('fastify', chatkeepUrl)}, jose ${packageVersion('jose', chatkeepUrl)}, in a child process; request log: info-level JSON lines (the default) to ${LOG_FILE}; rate limiter on with max ${RATE_LIMIT_MAX.toLocaleString('en-US')}/min; auth: HS256 JWT, each user's own token (the server remembers a verified token up to 30 s, never past its exp)` +
        (plan.variants.includes('jwt-2-workers')
          ? `; 2 workers: \`node dist/cli/main.js --database-url … serve --workers 2 --host 127.0.0.1 --port 0 --jwt-secret … --rate-limit ${CLI_RATE_LIMIT.toLocaleString('en-US')} --log-level info\` (a Node.js cluster primary that counts rate limits for its workers, one IPC round trip per request, and 2 workers sharing the port), request log on its stdout, redirected to a temporary file; server CPU = primary + workers`
          : '') +
        (plan.variants.includes('floor')
          ? '; floor: bare node:http in a child process (http/floor-process.ts: the same library calls and JSON.stringify, each JWT verified once with jose and remembered; no framework, request log, rate limiter or request ids)'
          : ''),
      'load generator': `${loadGenerator.description}, loopback, keep-alive, no pipelining; ${pageBytes === undefined ? '' : `a ${plan.pageSize}-message page is ${pageBytes.toLocaleString('en-US')} bytes of JSON`}`,
      'load average (1 min)': `${loadAtStart.toFixed(2)} at start, ${(os.loadavg()[0] ?? 0).toFixed(2)} at end, on ${os.availableParallelism()} cores`,
    },
    backends: runs.map((r) => r.info),
    measurements,
    invalid,
  };
  const markdown = renderHttpMarkdown(result, plan.pageSize);
  const machine = renderHttpMachine(result);
  const base = plan.quick ? 'http-quick' : 'http-latest';
  mkdirSync(join(benchDir, 'results'), { recursive: true });
  writeFileSync(join(benchDir, 'results', `${base}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(benchDir, 'results', `${base}.md`), `${markdown}\n${machine}\n`);
  // A smoke run (BENCH_QUICK=1) never touches the README.
  if (!plan.quick) updateReadmeBlock(join(benchDir, 'README.md'), `${markdown}\n${machine}`);
  process.stdout.write(`${markdown}\n${machine}\n`);
  log(
    `done in ${result.runSeconds} s; wrote results/${base}.{md,json}${invalid.length > 0 ? ' — the run is INVALID (see above)' : ''}`,
  );
  if (invalid.length > 0) process.exitCode = 1;
}

await main();
