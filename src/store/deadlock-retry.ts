import { pgErrorFields } from '../errors/index.js';

/** Attempts of one transaction when PostgreSQL picks it as a deadlock's victim. */
const DEADLOCK_ATTEMPTS = 3;

/**
 * Runs `work` (one whole transaction) again when it dies in a deadlock
 * (40P01), at most three times in all. PostgreSQL rolled the victim back
 * whole, so running it again is safe. For system-wide writers that take row
 * locks across tables in an order an application write may cross (an erase,
 * a retention batch), where the caller should not have to retry.
 */
export async function retryDeadlocks<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= DEADLOCK_ATTEMPTS || pgErrorFields(error)?.code !== '40P01') throw error;
    }
  }
}
