/**
 * Where chatkeep's HTTP server spends its CPU, next to the HTTP floor
 * (http/floor-process.ts), under the same wrk load of history reads on
 * PostgreSQL:
 *
 *   npm run probe:http
 *
 * Seeds its own database (ck_probe_http, dropped at the end), then for the
 * floor and for chatkeep's production path (http/server-process.ts: JWT,
 * info log to /dev/null, rate limiter on) starts the server process with
 * `node --cpu-prof`, warms it up with wrk, and measures with wrk. Only the
 * samples of the measured window count (not start-up or shutdown), as self
 * time per request: by package, and by function where the two differ most.
 * A CPU profile samples the main thread every ~1 ms, so differences below
 * ~1 µs per request are noise, and time in a native frame (`writev`, idle)
 * cannot be split further.
 *
 * PROBE_SECONDS (12) measured seconds, PROBE_CONNECTIONS (32) wrk
 * connections, PROBE_LOG (`info`, or `off`) the server's request log,
 * BENCH_PG_URL as for the bench. Needs wrk (`apt-get install -y wrk`).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from 'chatkeep';
import { SignJWT } from 'jose';
import pg from 'pg';
import { findWrk } from '../http/choose-load-generator.js';
import type { ServerProcessConfig } from '../http/server-process.js';

const BASE_URL = process.env['BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DATABASE = 'ck_probe_http';
const SECONDS = Number(process.env['PROBE_SECONDS'] ?? 12);
const CONNECTIONS = Number(process.env['PROBE_CONNECTIONS'] ?? 32);
const LOG = process.env['PROBE_LOG'] ?? 'info';
const SECRET = 'probe-http-secret-that-is-at-least-32-bytes';
/** Samples this close to either end of the measured window are left out (connections opening, wrk stopping). */
const EDGE_US = 200_000;
const here = dirname(fileURLToPath(import.meta.url));

interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly startTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}
/** Self time (µs) by key, within the measured window, and the requests answered in it. */
interface Attribution {
  readonly byPackage: Map<string, number>;
  readonly byFunction: Map<string, number>;
  readonly requests: number;
  readonly requestsPerSecond: number;
}

function databaseUrl(name: string): string {
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function recreateDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: BASE_URL });
  await admin.connect();
  await admin.query(`drop database if exists ${DATABASE} with (force)`);
  await admin.query(`create database ${DATABASE}`);
  await admin.end();
}

async function dropDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: BASE_URL });
  await admin.connect();
  await admin.query(`drop database if exists ${DATABASE} with (force)`);
  await admin.end();
}

/** 20 users × 5 conversations × 50 turns, through the library; returns one wrk request per conversation. */
async function seed(): Promise<string[]> {
  const store = await openStore({ url: databaseUrl(DATABASE) });
  const key = new TextEncoder().encode(SECRET);
  const requests: string[] = [];
  try {
    for (let u = 0; u < 20; u++) {
      const user = `probe-user-${u}`;
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('2h').sign(key);
      for (let c = 0; c < 5; c++) {
        const conversation = await store.conversations.create(user);
        for (let i = 0; i < 50; i++) {
          await store.turns.append(user, conversation.id, {
            user: `Question ${i}: ${'lorem ipsum '.repeat(6)}`,
            assistant: `Answer ${i}: ${'dolor sit amet '.repeat(25)}`,
          });
        }
        // wrk.format at load time has no Host header yet (wrk adds it later), so it is given here.
        requests.push(
          `wrk.format("GET", "/v1/conversations/${conversation.id}/messages?limit=50", {["host"]="127.0.0.1", ["authorization"]="Bearer ${token}"})`,
        );
      }
    }
  } finally {
    await store.close();
  }
  return requests;
}

function wrk(binary: string, script: string, url: string, seconds: number): { requests: number; perSecond: number } {
  const out = execFileSync(binary, ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, url]).toString();
  const requests = /(\d+) requests in/.exec(out);
  const perSecond = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (requests === null || perSecond === null) throw new Error(`probe:http: unexpected wrk output:\n${out}`);
  if (/Non-2xx|Socket errors/.test(out)) throw new Error(`probe:http: the server answered errors; every response must be 2xx:\n${out}`);
  return { requests: Number(requests[1]), perSecond: Number(perSecond[1]) };
}

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Starts `script` under --cpu-prof, loads it with wrk, stops it; returns its profile and the measured window. */
async function profileServer(binary: string, wrkScript: string, script: string, profileDir: string) {
  const config: ServerProcessConfig = {
    store: { url: databaseUrl(DATABASE) },
    jwtSecret: SECRET,
    log: LOG === 'off' ? 'off' : { level: 'info', file: '/dev/null' },
    rateLimitMax: 1e9,
  };
  const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--import', 'tsx', join(here, '..', 'http', script)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_HTTP_SERVER: JSON.stringify(config) },
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`probe:http: ${script} exited (${code}) before listening`)));
    child.stdout?.once('data', (line: Buffer) => resolve((JSON.parse(String(line)) as { url: string }).url));
  });
  wrk(binary, wrkScript, url, 3);
  const start = nowUs();
  const measured = wrk(binary, wrkScript, url, SECONDS);
  const end = nowUs();
  child.removeAllListeners('exit');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  // The main thread's profile; tsx's loader thread writes a second one.
  const file = readdirSync(profileDir).find((name) => /\.0\.\d+\.cpuprofile$/.test(name));
  if (file === undefined) throw new Error(`probe:http: ${script} wrote no CPU profile`);
  const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile;
  return { profile, start, end, measured };
}

/** The npm package of a script URL, a node: module, or the frame's name for native frames. */
function packageOf(frame: CpuProfileNode['callFrame']): string {
  if (frame.url === '') return frame.functionName;
  const inModules = /node_modules\/(@[^/]+\/[^/]+|[^/]+)/.exec(frame.url);
  if (inModules !== null) return inModules[1] as string;
  if (frame.url.startsWith('node:')) return frame.url;
  const path = frame.url.replace(/^file:\/\//, '');
  const inRepo = /\/(dist\/[^/]+|bench\/[^/]+)\//.exec(path);
  return inRepo !== null ? (inRepo[1] as string) : path;
}

function attribute(run: Awaited<ReturnType<typeof profileServer>>): Attribution {
  const { profile, start, end, measured } = run;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let at = profile.startTime;
  let counted = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < start + EDGE_US || at > end - EDGE_US) continue;
    counted += delta;
    const frame = (nodes.get(profile.samples[i] as number) as CpuProfileNode).callFrame;
    const pkg = packageOf(frame);
    const fn = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}`;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + delta);
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + delta);
  }
  if (counted === 0) throw new Error('probe:http: no profile samples in the measured window (clocks differ?)');
  // Requests answered in the counted part of the window, at the measured rate.
  const requests = (measured.perSecond * counted) / 1e6;
  return { byPackage, byFunction, requests, requestsPerSecond: measured.perSecond };
}

function table(title: string, floor: Map<string, number>, server: Map<string, number>, a: Attribution, b: Attribution, rows: number): string {
  const keys = [...new Set([...floor.keys(), ...server.keys()])];
  const perRequest = keys.map((key) => ({ key, floor: (floor.get(key) ?? 0) / a.requests, server: (server.get(key) ?? 0) / b.requests }));
  const total = (side: 'floor' | 'server') => perRequest.reduce((sum, row) => sum + row[side], 0);
  perRequest.sort((x, y) => Math.abs(y.server - y.floor) - Math.abs(x.server - x.floor));
  const lines = [
    `${title} — self time, µs per request (floor ${total('floor').toFixed(0)}, chatkeep ${total('server').toFixed(0)}, idle included)`,
    '',
    '| floor | chatkeep | difference | where |',
    '|---:|---:|---:|---|',
    ...perRequest
      .slice(0, rows)
      .map((row) => `| ${row.floor.toFixed(1)} | ${row.server.toFixed(1)} | ${(row.server - row.floor >= 0 ? '+' : '') + (row.server - row.floor).toFixed(1)} | ${row.key.slice(0, 90).replaceAll('|', '\\|')} |`),
  ];
  return lines.join('\n');
}

const binary = findWrk();
if (binary === undefined) throw new Error('probe:http needs wrk (apt-get install -y wrk)');
const work = mkdtempSync(join(os.tmpdir(), 'ck-probe-http-'));
try {
  process.stderr.write(`probe:http: seeding ${DATABASE} …\n`);
  await recreateDatabase();
  const requests = await seed();
  const wrkScript = join(work, 'requests.lua');
  writeFileSync(wrkScript, `local r = {${requests.join(',\n')}}\nlocal i = 0\nfunction request() i = i % #r + 1 return r[i] end\n`);
  const runs: Attribution[] = [];
  for (const [label, script] of [['floor', 'floor-process.ts'], ['chatkeep', 'server-process.ts']] as const) {
    process.stderr.write(`probe:http: ${label}: 3 s warm-up, ${SECONDS} s measured, ${CONNECTIONS} connections …\n`);
    const run = attribute(await profileServer(binary, wrkScript, script, join(work, label)));
    process.stderr.write(`probe:http: ${label}: ${Math.round(run.requestsPerSecond)} requests/s\n`);
    runs.push(run);
  }
  const [floor, server] = runs as [Attribution, Attribution];
  process.stdout.write(
    [
      `History reads (50 messages) on PostgreSQL, wrk -t1 -c${CONNECTIONS}, ${SECONDS} s; chatkeep's request log: ${LOG}.`,
      `Throughput: floor ${Math.round(floor.requestsPerSecond)}/s, chatkeep ${Math.round(server.requestsPerSecond)}/s (${(server.requestsPerSecond / floor.requestsPerSecond).toFixed(2)}×).`,
      '',
      table('By package', floor.byPackage, server.byPackage, floor, server, 25),
      '',
      table('By function, largest differences first', floor.byFunction, server.byFunction, floor, server, 30),
      '',
    ].join('\n'),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
  await dropDatabase();
}
