import { sqlState } from '../errors/index.js';

/** SQLSTATE 55P03 lock_not_available: `lock_timeout` fired. */
const LOCK_NOT_AVAILABLE = '55P03';

export interface LockRetryOptions {
  /** Attempts after the first (default 5). */
  readonly retries?: number;
  /** First backoff in ms, doubled each time, with ±50 % jitter (default 250). */
  readonly baseDelayMs?: number;
  readonly onRetry?: (attempt: number, delayMs: number) => void;
}

/**
 * Runs `work`, retrying when it failed only because `lock_timeout` fired.
 * That is the point of a short lock_timeout: DDL that cannot get its lock
 * quickly gives up instead of queueing — and making every later query of the
 * application queue behind it — then tries again a moment later, when the
 * long transaction in its way may have ended. Any other error is thrown at once.
 */
export async function withLockRetry<T>(work: () => Promise<T>, options: LockRetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 5;
  const base = options.baseDelayMs ?? 250;
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (sqlState(error) !== LOCK_NOT_AVAILABLE || attempt >= retries) throw error;
      const delayMs = Math.round(base * 2 ** attempt * (0.5 + Math.random()));
      options.onRetry?.(attempt + 1, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
