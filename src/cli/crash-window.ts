/**
 * Counts a cluster's unexpected worker exits over a sliding window, so
 * `serve --workers` replaces a worker that dies now and then for as long as
 * it runs, but gives up on a crash loop (every new worker dying at once)
 * instead of forking forever.
 */
export class CrashWindow {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #times: number[] = [];

  /** More than `limit` exits within `windowMs` is a crash loop. */
  constructor(limit: number, windowMs: number) {
    this.#limit = limit;
    this.#windowMs = windowMs;
  }

  /** Records an exit at `now` (ms); returns how many fell within the window and whether that is too many. */
  record(now: number): { readonly count: number; readonly giveUp: boolean } {
    this.#times.push(now);
    // Exits older than the window are forgotten: six deaths spread over days are no crash loop.
    while (this.#times[0]! < now - this.#windowMs) this.#times.shift();
    return { count: this.#times.length, giveUp: this.#times.length > this.#limit };
  }
}
