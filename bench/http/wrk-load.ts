import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { DurationPlan } from '../lib/load.js';
import type { HttpOutcome, HttpRequestSpec, LoadGenerator } from './load-generator.js';
import { reapedChildrenCpuSeconds } from './process-cpu.js';
import { parseWrkReport, WRK_READY_LINE, wrkScript, type WrkReport } from './wrk-script.js';

/**
 * Upper bound of the rate the request sequence is sized for. The sequence is
 * drawn up front (wrk cannot call back into this process); a run faster than
 * this wraps around to its start and says so in the progress output.
 */
const SEQUENCE_RATE_PER_SEC = 20_000;

/** wrk's per-request timeout, as autocannon's `timeout: 10` (a slower response counts as an error). */
const TIMEOUT = '10s';

/**
 * How long a measured run waits, its connections open, before its first
 * request, so that the server has accepted them all (wrk-script.ts, settle()).
 * Warm-up runs start at once: they absorb the server's accepting.
 */
const SETTLE_MS = 250;

interface WrkRun {
  readonly report: WrkReport;
  /** CPU seconds wrk used (user + system), from this process's reaped-children total; undefined off Linux. */
  readonly cpuSeconds: number | undefined;
}

/**
 * Runs wrk once: `settleMs` of waiting with its connections open, then `ms`
 * of load, starting at position `start` of the script's request sequence.
 * wrk's `-d` takes whole seconds, so the run is ended with SIGINT instead,
 * which wrk handles by stopping and reporting as usual (wrk.c: its SIGINT
 * handler ends the sleep); `-d` is only a backstop. The timer starts when the
 * script's init() reports ready, just before wrk starts its clock. The
 * measured time is wrk's own run time less the wait, either way.
 */
async function runWrk(
  binary: string,
  url: string,
  script: string,
  concurrency: number,
  ms: number,
  start: number,
  settleMs: number,
): Promise<WrkRun> {
  const args = [
    '-t1',
    `-c${concurrency}`,
    `-d${Math.ceil((settleMs + ms) / 1000) + 1}s`,
    '--timeout',
    TIMEOUT,
    '-s',
    script,
    url,
    '--',
    String(start),
    String(settleMs),
  ];
  const cpuBefore = reapedChildrenCpuSeconds();
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (timer === undefined && stdout.includes(WRK_READY_LINE))
      timer = setTimeout(() => child.kill('SIGINT'), settleMs + ms);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  clearTimeout(timer);
  // 'close' comes after Node has reaped wrk, so its CPU is in our children's total now.
  const cpuAfter = reapedChildrenCpuSeconds();
  if (code !== 0)
    throw new Error(`wrk ${args.join(' ')} exited with ${code}: ${stderr.trim() || stdout.trim()}`);
  const report = parseWrkReport(stdout);
  const recorded = report.requests - report.errors.timeout;
  if (report.latencyUs.count !== recorded)
    throw new Error(
      `wrk: undoing its latency correction left ${report.latencyUs.count} samples for ${recorded} responses`,
    );
  return {
    report,
    cpuSeconds:
      cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
  };
}

/** Distinct requests and, for every request in order, its index among them. */
function drawSequence(
  next: () => HttpRequestSpec,
  length: number,
): { specs: HttpRequestSpec[]; sequence: number[] } {
  const specs: HttpRequestSpec[] = [];
  const indexOf = new Map<string, number>();
  const sequence: number[] = [];
  for (let i = 0; i < length; i++) {
    const spec = next();
    const key = JSON.stringify(spec);
    let index = indexOf.get(key);
    if (index === undefined) {
      index = specs.push(spec) - 1;
      indexOf.set(key, index);
    }
    sequence.push(index);
  }
  return { specs, sequence };
}

const errorCount = (r: WrkReport): number =>
  r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;

/** Writes the script to a temporary folder, runs warm-up and measurement, and reports the measured run. */
async function applyWrk(
  binary: string,
  url: string,
  plan: DurationPlan,
  source: string,
  length: number,
): Promise<HttpOutcome> {
  const dir = mkdtempSync(join(os.tmpdir(), 'ck-bench-wrk-'));
  try {
    const script = join(dir, 'requests.lua');
    writeFileSync(script, source);
    const c = plan.concurrency;
    const warm = await runWrk(binary, url, script, c, plan.warmupMs, 0, 0);
    const m = await runWrk(binary, url, script, c, plan.durationMs, warm.report.sent, SETTLE_MS);
    const runs = [warm.report, m.report];
    const responses = runs.reduce((n, r) => n + r.requests, 0);
    const rejected = runs.reduce((n, r) => n + r.errors.status, 0);
    const wrapped = runs.reduce((n, r) => n + r.wrapped, 0);
    const { latencyUs, wrkCorrectedUs } = m.report;
    const seconds = (m.report.durationUs - m.report.settleUs) / 1e6;
    const notes = [
      `wrk's own p50/p99 (with its coordinated-omission correction): ${(wrkCorrectedUs.p50 / 1000).toFixed(2)} / ${(wrkCorrectedUs.p99 / 1000).toFixed(2)} ms; measured ${seconds.toFixed(3)} s; histogram read via ${m.report.histogram}`,
    ];
    if (wrapped > 0)
      notes.push(`the request sequence (${length} requests) wrapped around ${wrapped} times`);
    return {
      summary: {
        ops: m.report.requests,
        opsPerSec: m.report.requests / seconds,
        p50Ms: latencyUs.p50 / 1000,
        p99Ms: latencyUs.p99 / 1000,
        meanMs: latencyUs.mean / 1000,
        maxMs: latencyUs.max / 1000,
        seconds,
      },
      // wrk counts statuses above 399 only (without a response() callback it sees no more).
      unexpected: rejected,
      statuses: { '<400': responses - rejected, '>=400': rejected },
      errors: runs.reduce((n, r) => n + errorCount(r), 0),
      meanResponseBytes:
        responses === 0 ? Number.NaN : (warm.report.bytes + m.report.bytes) / responses,
      ...(warm.cpuSeconds === undefined || m.cpuSeconds === undefined
        ? {}
        : { childCpuSeconds: warm.cpuSeconds + m.cpuSeconds }),
      notes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Closed-loop HTTP load for a fixed time with wrk (C, epoll) in a child
 * process: `wrk -t1 -c<concurrency>`, keep-alive connections with one request
 * in flight on each, each connection sending its next request as soon as the
 * previous response completed. The requests are those `next()` yields, drawn
 * up front (in prepare()) into a Lua script (wrk-script.ts) that hands them
 * out in order.
 *
 * Warm-up is a run of its own (discarded); the measured run opens its
 * connections, waits SETTLE_MS for the server to accept them all, then
 * continues the request sequence where warm-up stopped. Latency is request
 * written → response complete, per request, at wrk's resolution of 1 µs.
 * Throughput is completed responses ÷ (wrk's run time − the wait).
 */
export function wrkLoad(binary: string): LoadGenerator {
  return {
    id: 'wrk',
    description: `${wrkVersion(binary)}, -t1, in a child process of the bench (a Lua script hands out pre-built requests; no response() callback; latency per request from wrk's 1 µs histogram with its coordinated-omission correction undone)`,
    inBenchProcess: false,
    // wrk cannot tell 200 from 201 without a response() callback: any status
    // above 399 is what it counts, and what makes the run invalid.
    prepare(url, plan, _expectedStatus, next) {
      const length = Math.ceil((SEQUENCE_RATE_PER_SEC * (plan.warmupMs + plan.durationMs)) / 1000);
      const { specs, sequence } = drawSequence(next, length);
      const source = wrkScript(plan.concurrency, specs, sequence);
      return () => applyWrk(binary, url, plan, source, length);
    },
  };
}

/** "wrk 4.1.0 (debian/4.1.0-3+b2, epoll)" from `wrk -v` (which prints its version, then usage, and exits 1). */
export function wrkVersion(binary: string): string {
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' }).stdout ?? '';
  const match = /^wrk (\S+) \[(\w+)\]/m.exec(out);
  if (match === null) return 'wrk (version unknown)';
  const [, raw = '', engine = ''] = match;
  const plain = /\d+\.\d+\.\d+/.exec(raw)?.[0];
  return plain === undefined || plain === raw
    ? `wrk ${raw} (${engine})`
    : `wrk ${plain} (${raw}, ${engine})`;
}
