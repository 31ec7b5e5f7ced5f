import cluster from 'node:cluster';
import { ChatkeepError } from '../../errors/index.js';
import { isRateLimitCount, type RateLimitHit } from './rate-limit-protocol.js';

type Callback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/** How long a worker waits for the primary's count before failing the request. */
const ANSWER_TIMEOUT_MS = 5000;

/**
 * A store for @fastify/rate-limit in a worker of `chatkeep serve --workers`:
 * every request is counted by the cluster's primary (RateLimitCounts), so a
 * user's limit holds across all workers instead of multiplying by their
 * number. One IPC round trip per request; measured in bench/README.md.
 */
export class WorkerRateLimitStore {
  static #pending = new Map<number, { readonly callback: Callback; readonly timer: NodeJS.Timeout; readonly windowMs: number }>();
  static #nextId = 1;
  static #listening = false;

  constructor() {
    if (!cluster.isWorker || process.send === undefined) {
      throw new ChatkeepError('CK_CONFIG', 'rateLimit.scope "cluster" needs a worker of a Node.js cluster (chatkeep serve --workers)', {
        field: 'rateLimit.scope',
      });
    }
    WorkerRateLimitStore.#listen();
  }

  incr(key: string, callback: Callback, timeWindow: number): void {
    // The primary is gone and this worker is draining (serve-cluster.ts): a
    // request that got past the drain's 503 just before it began is served
    // uncounted; a send on the closed channel would crash the worker.
    if (!process.connected) return callback(null, { current: 0, ttl: timeWindow });
    const id = WorkerRateLimitStore.#nextId++;
    const timer = setTimeout(() => {
      WorkerRateLimitStore.#pending.delete(id);
      callback(new Error('the cluster primary did not answer a rate-limit count'));
    }, ANSWER_TIMEOUT_MS);
    timer.unref();
    WorkerRateLimitStore.#pending.set(id, { callback, timer, windowMs: timeWindow });
    const hit: RateLimitHit = { chatkeep: 'rate-limit-hit', id, key, windowMs: timeWindow };
    // With a callback, a write that fails because the primary died after the
    // check above (EPIPE) is reported here instead of as an 'error' event on
    // `process`, which would crash this worker in the middle of its drain.
    process.send!(hit, (error: Error | null) => {
      if (error !== null) WorkerRateLimitStore.#uncounted(id);
    });
  }

  child(): WorkerRateLimitStore {
    return new WorkerRateLimitStore();
  }

  /** Answers a pending count the primary will never give: the request is served uncounted, as after the drain began. */
  static #uncounted(id: number): void {
    const pending = WorkerRateLimitStore.#pending.get(id);
    if (pending === undefined) return;
    WorkerRateLimitStore.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.callback(null, { current: 0, ttl: pending.windowMs });
  }

  static #listen(): void {
    if (WorkerRateLimitStore.#listening) return;
    WorkerRateLimitStore.#listening = true;
    // The primary is gone: the counts it owes will never come, and waiting
    // out ANSWER_TIMEOUT_MS would fail requests the draining worker can serve.
    process.on('disconnect', () => {
      for (const id of [...WorkerRateLimitStore.#pending.keys()]) WorkerRateLimitStore.#uncounted(id);
    });
    process.on('message', (message: unknown) => {
      if (!isRateLimitCount(message)) return;
      const pending = WorkerRateLimitStore.#pending.get(message.id);
      if (pending === undefined) return;
      WorkerRateLimitStore.#pending.delete(message.id);
      clearTimeout(pending.timer);
      pending.callback(null, { current: message.current, ttl: message.ttl });
    });
  }
}
