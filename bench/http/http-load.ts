import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import type { DurationPlan, Sample } from '../lib/load.js';

/** One HTTP request as the load generator sends it. */
export interface HttpRequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** What one HTTP measurement saw besides latencies: anything but the expected status makes the run invalid. */
export interface HttpOutcome {
  readonly sample: Sample;
  /** Responses with a status other than `expectedStatus`, over warm-up and measurement. */
  readonly unexpected: number;
  /** Responses by status code, over warm-up and measurement. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Connection errors and timeouts (autocannon's `errors`, which include `timeouts`). */
  readonly errors: number;
  /** Mean response size in bytes (headers and body). */
  readonly meanResponseBytes: number;
}

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
 */
export async function runHttpForDuration(
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
    sample: { latenciesMs: latencies, elapsedMs: plan.durationMs },
    unexpected,
    statuses,
    errors: result.errors,
    meanResponseBytes: responses === 0 ? Number.NaN : bytes / responses,
  };
}
