import { createHash } from 'node:crypto';
import { z } from 'zod';
import { hotStatement, type HotStatement } from '../db/index.js';
import { forAllUsers, type StoreContext } from './store-context.js';
import { parse } from './validation.js';

/** One counted request: the count in its key's window so far, this one included, and the ms left in that window. */
export interface RateLimitHit {
  readonly current: number;
  readonly ttl: number;
}

/** Longest key accepted; the server's keys (`user:<id>`, `auth-failure:<address>`) are far shorter. */
const MAX_KEY_LENGTH = 1000;
/** Longest window accepted: a day. */
export const MAX_RATE_LIMIT_WINDOW_MS = 86_400_000;

const hitInput = z.object({
  key: z.string().min(1, 'must not be empty').max(MAX_KEY_LENGTH, `must be at most ${MAX_KEY_LENGTH} characters`),
  windowMs: z.number().int('must be a whole number of milliseconds').min(1, 'must be at least 1').max(MAX_RATE_LIMIT_WINDOW_MS, `must be at most ${MAX_RATE_LIMIT_WINDOW_MS} (a day)`),
});

/**
 * Fixed-window request counts in the database (migration 0008), shared by
 * every process and machine on it: what `chatkeep serve --rate-limit-scope
 * database` counts its per-user limit and failed authentications with. The
 * same counting as @fastify/rate-limit's in-memory store — the first hit
 * opens a window, each hit in it adds one, the first hit after it ends opens
 * the next; a window ends `windowMs` (of the hit being counted) after it
 * began — in one statement per hit, exact under concurrent
 * callers (they queue on the key's row). Times come from the database's
 * clock, so machines whose clocks disagree still share one window.
 * Not user data: keys are stored as SHA-256 hashes, and no policy applies.
 */
export class RateLimits {
  readonly #ctx: StoreContext;
  readonly #hit: HotStatement;
  readonly #prune: HotStatement;
  readonly #forget: HotStatement;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
    const table = `${ctx.schema}.rate_limit_windows`;
    const span = `make_interval(secs => $2::float8 / 1000)`;
    // A window ends `windowMs` after it began, with the windowMs of the hit being counted, as in
    // @fastify/rate-limit's LocalStore (`iterationStartMs + timeWindow <= now`). Judged by the stored
    // ends_at instead, a window opened under a longer setting outlived a change to a shorter one (a
    // day-long lockout after the operator set a minute): test/store/review-limits-window-change.test.ts.
    const ended = `w.started_at + ${span} <= now()`;
    // now() is when the statement began; one that queued on the key's row may have begun before the
    // window it is counted in (opened by the hit it waited for), so the ms left are measured from no
    // earlier than that window's start: never more than windowMs (test/store/review-limits-ttl.test.ts).
    // The table has no policy: no row scope is needed before these (one round trip, also for a bound role).
    this.#hit = hotStatement(
      `insert into ${table} as w (key_hash, hits, started_at, ends_at) values ($1, 1, now(), now() + ${span})
       on conflict (key_hash) do update set
         hits = case when ${ended} then 1 else w.hits + 1 end,
         started_at = case when ${ended} then now() else w.started_at end,
         ends_at = case when ${ended} then now() + ${span} else w.started_at + ${span} end
       returning hits, greatest(0, ceil(extract(epoch from (ends_at - greatest(now(), started_at))) * 1000))::float8 as ttl`,
      { skipsRowScope: true },
    );
    this.#prune = hotStatement(`with ended as (delete from ${table} where ends_at <= now() returning 1) select count(*)::int as n from ended`, {
      skipsRowScope: true,
    });
    this.#forget = hotStatement(`with gone as (delete from ${table} where key_hash = $1 returning 1) select count(*)::int as n from gone`, {
      skipsRowScope: true,
    });
  }

  /**
   * Counts one hit for `key` in a window of `windowMs`.
   * @example const { current, ttl } = await store.rateLimits.hit('user:alice', 60_000);
   */
  async hit(key: string, windowMs: number): Promise<RateLimitHit> {
    this.#ctx.assertOpen();
    const input = parse(hitInput, { key, windowMs });
    const keyHash = createHash('sha256').update(input.key).digest('hex');
    const [row] = await forAllUsers(this.#ctx, () => this.#ctx.hot<{ hits: number; ttl: number }>(this.#hit, [keyHash, input.windowMs]));
    return { current: Number(row!.hits), ttl: Number(row!.ttl) };
  }

  /**
   * Deletes `key`'s window, ended or not; returns whether there was one. The
   * server calls it when it erases a user: a key `user:<id>` is a plain
   * SHA-256 of the id, which confirms a guessed id (an e-mail address) to
   * whoever reads the table, so it must not outlive the erase.
   * @example await store.rateLimits.forget('user:alice');
   */
  async forget(key: string): Promise<boolean> {
    this.#ctx.assertOpen();
    const input = parse(hitInput.shape.key, key, 'key');
    const keyHash = createHash('sha256').update(input).digest('hex');
    const [row] = await forAllUsers(this.#ctx, () => this.#ctx.hot<{ n: number }>(this.#forget, [keyHash]));
    return Number(row?.n ?? 0) > 0;
  }

  /** Deletes the windows that have ended (the server calls it from its sweeper); returns how many. */
  async prune(): Promise<number> {
    this.#ctx.assertOpen();
    const [row] = await forAllUsers(this.#ctx, () => this.#ctx.hot<{ n: number }>(this.#prune, []));
    return Number(row?.n ?? 0);
  }
}
