import { afterAll, beforeAll } from 'vitest';
import { processTarget, type BackendName } from './backends.js';

/** Where a child process (the built CLI) finds its database: a PostgreSQL URL or a PGlite data folder. */
export interface ProcessLocation {
  readonly url?: string;
  readonly dataDir?: string;
}

/**
 * Gives the enclosing suite a database of `backend` that another process can
 * open ({@link processTarget}), created before its tests and removed after
 * them; `onReady` receives where it is (assign it to the suite's variable).
 */
export function useProcessLocation(backend: BackendName, onReady: (location: ProcessLocation) => void): void {
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    const where = await processTarget(backend, cleanups);
    onReady(backend === 'postgres' ? { url: where } : { dataDir: where });
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
}
