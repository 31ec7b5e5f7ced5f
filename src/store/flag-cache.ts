/** What evaluation needs of one flag. */
export interface FlagRule {
  readonly enabled: boolean;
  readonly rolloutPercent: number;
  readonly salt: string;
}

/** Every flag, and every override when there are at most `maxOverrides` of them. */
export interface FlagSnapshot {
  readonly flags: ReadonlyMap<string, FlagRule>;
  /** user id → flag → override; null when there are too many overrides to hold (evaluate per user instead). */
  readonly overrides: ReadonlyMap<string, ReadonlyMap<string, boolean>> | null;
}

/** How the store caches flag definitions; see {@link FlagCache}. */
export interface FlagCacheOptions {
  /** How long a snapshot of the flags is used before it is read again (default 1000 ms; 0 = never cache). */
  readonly ttlMs?: number;
  /** The most overrides held in memory (default 1000); with more, each evaluation reads the user's overrides. */
  readonly maxOverrides?: number;
}

export const FLAG_CACHE_DEFAULTS = { ttlMs: 1000, maxOverrides: 1000 } as const;

/**
 * The in-process cache of flag definitions (and overrides, while they are
 * few). Evaluation runs on request hot paths. Uncached it is one indexed
 * query per call; measured with 20 flags, `isEnabled` took 0.56 ms on PGlite
 * and 0.40 ms on a local PostgreSQL 15 (more over a real network), i.e. one
 * more statement on every chat request. Cached it is a map lookup and one
 * SHA-256: 4–6 µs (`evaluate` of 20 flags: ~50 µs). The price is staleness: a change made through
 * *another* process (or plain SQL) is seen here within `ttlMs`; a change made
 * through this store is seen at once, because its writes call `invalidate()`.
 *
 * Overrides are for a handful of testers and opt-outs, so they ride along in
 * the snapshot up to `maxOverrides`; past that the snapshot says so
 * (`overrides: null`) and callers fall back to the one-query path rather than
 * reloading an unbounded table every second.
 *
 * Loads are single-flight: callers arriving while one is running share it.
 * A write during a load bumps the generation, so that load's (possibly
 * older) result is handed to the callers who asked before the write but is
 * not kept for anyone after it.
 */
export class FlagCache {
  readonly #load: () => Promise<FlagSnapshot>;
  readonly #ttlMs: number;
  #snapshot: { readonly value: FlagSnapshot; readonly expires: number } | undefined;
  #loading: Promise<FlagSnapshot> | undefined;
  #generation = 0;

  constructor(load: () => Promise<FlagSnapshot>, ttlMs: number) {
    this.#load = load;
    this.#ttlMs = ttlMs;
  }

  /** False when caching is switched off (`ttlMs: 0`): evaluate with one query per call. */
  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  /** The current snapshot, loading it when there is none or it has expired. */
  get(): Promise<FlagSnapshot> {
    const now = performance.now();
    if (this.#snapshot !== undefined && this.#snapshot.expires > now) return Promise.resolve(this.#snapshot.value);
    if (this.#loading !== undefined) return this.#loading;
    const generation = this.#generation;
    const loading = this.#load().then(
      (value) => {
        if (this.#generation === generation) this.#snapshot = { value, expires: now + this.#ttlMs };
        return value;
      },
    );
    this.#loading = loading;
    void loading.then(
      () => this.#clear(loading),
      () => this.#clear(loading),
    );
    return loading;
  }

  /** Forgets the snapshot: the next `get()` reads the database. */
  invalidate(): void {
    this.#generation++;
    this.#snapshot = undefined;
    this.#loading = undefined;
  }

  #clear(loading: Promise<FlagSnapshot>): void {
    if (this.#loading === loading) this.#loading = undefined;
  }
}
