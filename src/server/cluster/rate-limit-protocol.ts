/**
 * The messages a worker of `chatkeep serve --workers` and its primary
 * exchange over the cluster's IPC channel so that per-user rate limits count
 * every request, whichever worker took the connection. Tagged, so other
 * messages on the channel are left alone.
 */
export interface RateLimitHit {
  readonly chatkeep: 'rate-limit-hit';
  readonly id: number;
  readonly key: string;
  readonly windowMs: number;
}

export interface RateLimitCount {
  readonly chatkeep: 'rate-limit-count';
  readonly id: number;
  /** Requests counted in the key's current window, this one included. */
  readonly current: number;
  /** Milliseconds until that window ends. */
  readonly ttl: number;
}

export function isRateLimitHit(message: unknown): message is RateLimitHit {
  return (message as RateLimitHit | null)?.chatkeep === 'rate-limit-hit';
}

export function isRateLimitCount(message: unknown): message is RateLimitCount {
  return (message as RateLimitCount | null)?.chatkeep === 'rate-limit-count';
}
