import type { Worker } from 'node:cluster';
import { isRateLimitHit, type RateLimitCount } from './rate-limit-protocol.js';

interface Window {
  count: number;
  readonly startedAt: number;
  readonly windowMs: number;
}

/**
 * Fixed-window request counts per key, kept by the primary of a cluster for
 * all its workers — the same counting as @fastify/rate-limit's in-memory
 * store, so a cluster limits exactly like one process does. One process
 * also counts its failed authentications here (AuthFailureLimiter); in a
 * cluster those reach the primary's counts too, keyed `auth-failure:…`.
 */
export class RateLimitCounts {
  readonly #windows = new Map<string, Window>();
  #nextPrune = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one request for `key`; returns its window's count so far and the time left in it. */
  hit(key: string, windowMs: number): { readonly current: number; readonly ttl: number } {
    const now = this.now();
    this.#prune(now);
    let window = this.#windows.get(key);
    if (window === undefined || window.startedAt + window.windowMs <= now) {
      window = { count: 0, startedAt: now, windowMs };
      this.#windows.set(key, window);
    }
    window.count += 1;
    return { current: window.count, ttl: window.startedAt + window.windowMs - now };
  }

  /** How many keys have a window open (for tests and diagnostics). */
  get size(): number {
    return this.#windows.size;
  }

  // Ended windows are dropped at most once a second, so memory follows the
  // number of recently active users, not every user ever seen.
  #prune(now: number): void {
    if (now < this.#nextPrune) return;
    this.#nextPrune = now + 1000;
    for (const [key, window] of this.#windows) if (window.startedAt + window.windowMs <= now) this.#windows.delete(key);
  }
}

/** Answers a worker's rate-limit hits from the primary's shared counts. */
export function answerRateLimitHits(worker: Worker, counts: RateLimitCounts): void {
  worker.on('message', (message: unknown) => {
    if (!isRateLimitHit(message)) return;
    const { current, ttl } = counts.hit(message.key, message.windowMs);
    const reply: RateLimitCount = { chatkeep: 'rate-limit-count', id: message.id, current, ttl };
    // A worker that died meanwhile cannot be answered; its requests died with it.
    // `isConnected()` is not enough: a worker killed after its hit was sent, but
    // before the primary read the channel's end, still looks connected, and the
    // write fails with EPIPE. Without a callback Node.js emits that as an
    // 'error' event on the Worker, which, unheard, crashed the primary and
    // stopped the whole server over one worker's death.
    if (worker.isConnected()) worker.send(reply, ignoreSendError);
  });
}

/** A send's failure is the receiver's death, which the cluster's 'exit' event reports. */
function ignoreSendError(): void {}
