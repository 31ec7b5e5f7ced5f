import { isIPv6 } from 'node:net';
import { ChatkeepError } from '../errors/index.js';
import type { RateLimits } from '../store/index.js';
import { RateLimitCounts } from './cluster/rate-limit-counts.js';
import { WorkerRateLimitStore } from './cluster/worker-rate-limit-store.js';

/** How many failed authentications a client address may have per window before it is refused. */
export interface AuthFailureLimitOptions {
  /** Failed authentications (401s) allowed per address per window; 0 turns the limit off. */
  readonly max: number;
  readonly windowMs: number;
  /**
   * Who counts: this process, the primary of `chatkeep serve --workers` for
   * all workers, or the database for every server on it.
   */
  readonly scope?: 'process' | 'cluster' | 'database';
}

/** Counts one failure for `key` in its window: the count so far, this one included, and the ms left in the window. */
type CountFailure = (
  key: string,
  windowMs: number,
) => Promise<{ readonly current: number; readonly ttl: number }>;

/**
 * Throttles credential guessing and the work it costs: every failed
 * authentication (a 401, on user and admin routes) is counted per client
 * address, and an address with `max` failures in a window is refused — 429
 * before its token is even looked at, so no API-key lookup, JWT verification
 * or JWKS fetch — until that window ends (docs/http.md, "Failed
 * authentication"). A request that authenticates costs nothing here: only
 * failures are counted, and the check is a look in a local map.
 *
 * With `scope: 'database'` the failures are counted in the database
 * (`store.rateLimits`) for every server on it, and each server keeps its own
 * list of refused addresses in the same way as a worker below.
 *
 * Tokens sent at once on many connections would all pass that look before
 * the first of them failed and was counted, so a burst could get any number
 * of 401s (measured: 100 concurrent bad API keys, limit 5, all answered 401).
 * So at most `max` tokens of one address — fewer by the failures this process
 * already knows of in the window — are checked at once; the rest wait their
 * turn (`admit`), and are refused once the limit is met. Ordinary traffic
 * from one address (a NAT, a load test) never waits while it authenticates,
 * unless it runs more than `max` checks at once.
 *
 * Under `chatkeep serve --workers` the failures are counted by the primary
 * (the per-user rate limit's shared counts, under their own keys), while
 * each worker keeps its own list of refused addresses, filled when one of
 * its own failures meets the limit. A worker that has not seen the address
 * fail since the limit was met still tries one more token, so an address
 * gets at most `max + workers − 1` failed attempts per window, instead of a
 * round trip to the primary on every request. A worker learns the count only
 * from its own failures, so a burst spread over the workers gets at most
 * `max + workers × (max − 1)`.
 */
export class AuthFailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #count: CountFailure;
  /** Address key → when its refusal ends (epoch ms). */
  readonly #refused = new Map<string, number>();
  /** Address key → the failures this process last learned of and when their window ends (epoch ms). */
  readonly #known = new Map<string, { readonly failures: number; readonly until: number }>();
  /** Address key → its tokens being checked now and the callers waiting for room. */
  readonly #checks = new Map<string, Checks>();
  #nextPrune = 0;

  /** `rateLimits` counts for `scope: 'database'`. */
  constructor(options: AuthFailureLimitOptions, rateLimits?: RateLimits) {
    this.#max = options.max;
    this.#windowMs = options.windowMs;
    if (options.scope === 'database' && rateLimits === undefined) {
      throw new ChatkeepError('CK_CONFIG', 'authFailureLimit.scope "database" needs the store to count in', { field: 'authFailureLimit.scope' });
    }
    this.#count =
      options.scope === 'cluster'
        ? countInPrimary(new WorkerRateLimitStore())
        : options.scope === 'database'
          ? (key, windowMs) => rateLimits!.hit(key, windowMs)
          : countHere(new RateLimitCounts());
  }

  get max(): number {
    return this.#max;
  }

  /** Milliseconds until `ip` may try a token again; 0 when it may now. */
  refusedFor(ip: string): number {
    return this.#refusedFor(addressKey(ip), Date.now());
  }

  /**
   * Waits until a token of `ip` may be checked: `{ refusedMs }` when the
   * address is refused (meanwhile too), else `{ done }`, to be called once
   * the check has ended — after `failed()` when it failed, so the callers
   * waiting behind it see the count it made.
   */
  async admit(ip: string): Promise<{ readonly refusedMs: number } | { readonly done: () => void }> {
    const key = addressKey(ip);
    for (;;) {
      const now = Date.now();
      const refusedMs = this.#refusedFor(key, now);
      if (refusedMs > 0) return { refusedMs };
      let checks = this.#checks.get(key);
      if (checks === undefined) this.#checks.set(key, (checks = { running: 0, waiting: [] }));
      if (checks.running < this.#room(key, now)) {
        checks.running++;
        return { done: once(() => this.#done(key, checks)) };
      }
      await new Promise<void>((resolve) => checks.waiting.push(resolve));
    }
  }

  /**
   * Counts a failed authentication from `ip`; the one that meets the limit
   * starts the refusal. Returns how long the refusal lasts (ms) when this
   * failure started it, else 0.
   */
  async failed(ip: string): Promise<number> {
    const key = addressKey(ip);
    const { current, ttl } = await this.#count(`auth-failure:${key}`, this.#windowMs);
    const now = Date.now();
    if (ttl > 0) this.#known.set(key, { failures: current, until: now + ttl });
    if (current < this.#max || ttl <= 0) return 0;
    const started = (this.#refused.get(key) ?? 0) <= now;
    this.#refused.set(key, now + ttl);
    return started ? ttl : 0;
  }

  #refusedFor(key: string, now: number): number {
    this.#prune(now);
    const until = this.#refused.get(key);
    return until === undefined ? 0 : Math.max(0, until - now);
  }

  /** How many tokens of the address may be checked at once: the failures it has left, and at least one. */
  #room(key: string, now: number): number {
    const known = this.#known.get(key);
    const failures = known !== undefined && known.until > now ? known.failures : 0;
    return Math.max(1, this.#max - failures);
  }

  #done(key: string, checks: Checks): void {
    checks.running--;
    const now = Date.now();
    // Once refused, every waiter may learn it now; else as many as there is room for.
    const wake = this.#refusedFor(key, now) > 0 ? checks.waiting.length : this.#room(key, now) - checks.running;
    for (const resolve of checks.waiting.splice(0, Math.max(0, wake))) resolve();
    if (checks.running === 0 && checks.waiting.length === 0 && this.#checks.get(key) === checks) {
      this.#checks.delete(key);
    }
  }

  // Ended refusals and counts are dropped at most once a second, as RateLimitCounts drops ended windows.
  #prune(now: number): void {
    if (now < this.#nextPrune) return;
    this.#nextPrune = now + 1000;
    for (const [key, until] of this.#refused) if (until <= now) this.#refused.delete(key);
    for (const [key, known] of this.#known) if (known.until <= now) this.#known.delete(key);
  }
}

interface Checks {
  running: number;
  readonly waiting: Array<() => void>;
}

function once(action: () => void): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    action();
  };
}

function countHere(counts: RateLimitCounts): CountFailure {
  return async (key, windowMs) => counts.hit(key, windowMs);
}

function countInPrimary(store: WorkerRateLimitStore): CountFailure {
  return (key, windowMs) =>
    new Promise((resolve, reject) => {
      store.incr(
        key,
        (error, result) =>
          error !== null || result === undefined
            ? reject(error ?? new Error('no count'))
            : resolve(result),
        windowMs,
      );
    });
}

/**
 * The address a failure is counted against. An IPv6 client usually holds a
 * whole /64 (RFC 6177 recommends at least that much per site), so IPv6
 * addresses are counted by their /64, as @fastify/rate-limit does by
 * default; anything else (IPv4, an IPv4-mapped ::ffff:a.b.c.d) as is.
 *
 * A port is dropped: some proxies forward the client as `203.0.113.7:51234`
 * or `[2001:db8::1]:51234` in X-Forwarded-For, which Fastify's trustProxy
 * takes verbatim as `request.ip`; counted with its port, every new
 * connection would start a fresh count.
 *
 * @example
 * addressKey('2001:db8::1') === addressKey('2001:db8:0:0:ffff::2') // '2001:db8:0:0::/64'
 * addressKey('203.0.113.7:51234') === '203.0.113.7'
 */
export function addressKey(forwarded: string): string {
  const ip = withoutPort(forwarded);
  if (!isIPv6(ip) || /^::ffff:\d/i.test(ip)) return ip;
  const [head = '', tail] = ip.toLowerCase().replace(/%.*$/, '').split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // `::` stands for as many zero groups as make eight; a dotted IPv4 tail is two.
  const zeros = 8 - left.length - right.reduce((n, group) => n + (group.includes('.') ? 2 : 1), 0);
  const groups = tail === undefined ? left : [...left, ...Array<string>(zeros).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** `a.b.c.d:port` → `a.b.c.d`, `[v6]` or `[v6]:port` → `v6`; anything else as it is. */
function withoutPort(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(address);
  if (bracketed?.[1] !== undefined && isIPv6(bracketed[1])) return bracketed[1];
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(address);
  return v4?.[1] ?? address;
}
