import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import type { DurationPlan } from '../lib/load.js';
import { packageVersion } from '../lib/machine.js';
import { summarize } from '../lib/stats.js';
import type { HttpOutcome, HttpRequestSpec, LoadGenerator } from './load-generator.js';

/**
 * Closed-loop HTTP load for a fixed time with autocannon: `concurrency`
 * keep-alive connections, one request in flight on each (no pipelining), each
 * connection sending the next request as soon as the previous response
 * arrived — the same loop as lib/load.ts runForDuration() drives at library
 * level. `next()` is called for every request (autocannon's setupRequest), so
 * requests follow one shared pseudo-random sequence.
 *
 * Latency is taken from autocannon's per-response event (request written →
 * response complete, in fractional ms; its own histogram rounds to whole
 * milliseconds, too coarse here) and windowed exactly like runForDuration():
 * requests that start during warm-up or finish after the window are not
 * counted, and throughput is counted responses ÷ measured time.
 *
 * autocannon runs in this process, so its CPU is this process's CPU.
 */
export async function runAutocannonForDuration(
  url: string,
  plan: DurationPlan,
  expectedStatus: number,
  next: () => HttpRequestSpec,
): Promise<HttpOutcome> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let unexpected = 0;
  let bytes = 0;
  let responses = 0;
  const start = performance.now();
  const measureFrom = start + plan.warmupMs;
  const measureTo = measureFrom + plan.durationMs;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: plan.concurrency,
        pipelining: 1,
        // A little past the window, so requests in flight at its end are not cut off by the stop.
        duration: (plan.warmupMs + plan.durationMs + 200) / 1000,
        timeout: 10,
        requests: [
          {
            setupRequest: (request) => {
              const spec = next();
              return {
                ...request,
                method: spec.method,
                path: spec.path,
                headers: { ...spec.headers },
                ...(spec.body === undefined ? {} : { body: spec.body }),
              };
            },
          },
        ],
      },
      (error: unknown, done: autocannon.Result) => (error ? reject(error as Error) : resolve(done)),
    );
    instance.on('response', (_client, statusCode, resBytes, responseTime) => {
      const now = performance.now();
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
      if (statusCode !== expectedStatus) unexpected++;
      bytes += resBytes;
      responses++;
      if (now - responseTime >= measureFrom && now <= measureTo) latencies.push(responseTime);
    });
  });
  return {
    summary: summarize(latencies, plan.durationMs),
    unexpected,
    statuses,
    errors: result.errors,
    meanResponseBytes: responses === 0 ? Number.NaN : bytes / responses,
    notes: [],
  };
}

/** autocannon (programmatic API) in the bench process. */
export const autocannonLoad: LoadGenerator = {
  id: 'autocannon',
  description: `autocannon ${packageVersion('autocannon')} (programmatic, in the bench process)`,
  inBenchProcess: true,
  prepare: (url, plan, expectedStatus, next) => () =>
    runAutocannonForDuration(url, plan, expectedStatus, next),
};
