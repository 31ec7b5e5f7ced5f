import type { DurationPlan } from '../lib/load.js';
import type { Summary } from '../lib/stats.js';

/** The load generators the HTTP bench can drive (`BENCH_HTTP_LOADGEN`). */
export const LOAD_GENERATORS = ['wrk', 'autocannon'] as const;
export type LoadGeneratorId = (typeof LOAD_GENERATORS)[number];

/** One HTTP request as the load generator sends it. */
export interface HttpRequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** What one HTTP measurement saw besides latencies: anything but the expected status makes the run invalid. */
export interface HttpOutcome {
  /** Latency and throughput of the measured window (warm-up excluded). */
  readonly summary: Summary;
  /** Responses with a status other than `expectedStatus`, over warm-up and measurement. */
  readonly unexpected: number;
  /** Responses by status code (or class, where the generator only knows that), over warm-up and measurement. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Connection errors and timeouts, over warm-up and measurement. */
  readonly errors: number;
  /** Mean response size in bytes (headers and body). */
  readonly meanResponseBytes: number;
  /**
   * CPU seconds the generator used when it runs as a child process (wrk), over
   * warm-up and measurement; undefined when it runs in this process
   * (autocannon) or the figure is not available (off Linux).
   */
  readonly childCpuSeconds?: number;
  /** Anything worth a line in the progress output (e.g. the generator's own figures). */
  readonly notes: readonly string[];
}

/**
 * A LoadGenerator drives the HTTP half of a cell: a closed loop of
 * `plan.concurrency` keep-alive connections with one request in flight on
 * each (no pipelining), for `plan.warmupMs` unmeasured and then
 * `plan.durationMs` measured, sending the requests `next()` yields in the
 * order it yields them, and timing each request from written to response
 * complete — the loop lib/load.ts runForDuration() drives at library level.
 *
 * prepare() fixes one cell's load and returns the function that applies it,
 * so that work done up front (wrk draws its whole request sequence) stays
 * out of the time and CPU the caller measures around the load.
 */
export interface LoadGenerator {
  readonly id: LoadGeneratorId;
  /** The report's "load generator" row: name, version, how it runs. */
  readonly description: string;
  /** True when it runs in the bench process (its CPU is this process's), false when in a child process. */
  readonly inBenchProcess: boolean;
  prepare(
    url: string,
    plan: DurationPlan,
    expectedStatus: number,
    next: () => HttpRequestSpec,
  ): () => Promise<HttpOutcome>;
}
