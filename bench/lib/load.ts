import { performance } from 'node:perf_hooks';
import { summarize, type Summary } from './stats.js';

/** One operation of a workload; `worker` is 0…concurrency-1, `i` counts that worker's calls. */
export type Operation = (worker: number, i: number) => Promise<unknown>;

/** Raw timings of one measured stretch; stretches of one workload are merged before summarising. */
export interface Sample {
  readonly latenciesMs: readonly number[];
  readonly elapsedMs: number;
}

/** Pools the samples of several rounds: all latencies, and the total measured time. */
export function summarizeSamples(samples: readonly Sample[]): Summary {
  return summarize(
    samples.flatMap((s) => s.latenciesMs),
    samples.reduce((sum, s) => sum + s.elapsedMs, 0),
  );
}

export interface DurationPlan {
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/**
 * Closed-loop load for a fixed time: `concurrency` async workers each issue
 * the next operation as soon as the previous one finished. Operations that
 * *start* during warm-up are not recorded; the measured window opens when
 * warm-up ends and closes at `durationMs` (operations still in flight then
 * finish but are not counted, so throughput is not inflated by the tail).
 */
export async function runForDuration(plan: DurationPlan, op: Operation): Promise<Sample> {
  const latencies: number[] = [];
  const start = performance.now();
  const measureFrom = start + plan.warmupMs;
  const measureTo = measureFrom + plan.durationMs;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; ; i++) {
      const t0 = performance.now();
      if (t0 >= measureTo) return;
      await op(w, i);
      const t1 = performance.now();
      if (t0 >= measureFrom && t1 <= measureTo) latencies.push(t1 - t0);
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, (_, w) => worker(w)));
  return { latenciesMs: latencies, elapsedMs: plan.durationMs };
}

export interface CountPlan {
  readonly concurrency: number;
  /** Operations to measure, shared by all workers. */
  readonly count: number;
  /** Unmeasured operations first (also shared). */
  readonly warmup: number;
  /** Stop early (fewer samples) once this much measured time has passed. */
  readonly maxMs: number;
}

/**
 * Closed-loop load for a fixed number of operations (history reads). The
 * throughput is measured operations over the measured wall time.
 */
export async function runCount(plan: CountPlan, op: Operation): Promise<Sample> {
  let warmed = 0;
  const warm = async (w: number): Promise<void> => {
    for (let i = 0; warmed < plan.warmup; i++) {
      warmed++;
      await op(w, i);
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, (_, w) => warm(w)));
  const latencies: number[] = [];
  let issued = 0;
  const start = performance.now();
  const deadline = start + plan.maxMs;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; issued < plan.count && performance.now() < deadline; i++) {
      issued++;
      const t0 = performance.now();
      await op(w, plan.warmup + i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: plan.concurrency }, (_, w) => worker(w)));
  return { latenciesMs: latencies, elapsedMs: performance.now() - start };
}
