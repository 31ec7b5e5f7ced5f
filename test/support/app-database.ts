import { openDatabase, type Database } from '../../src/db/index.js';
import type { ScratchDatabase } from './backends.js';

/**
 * The application's own connections in a scenario test, apart from the ones
 * the migration runs on: on PostgreSQL a separate pool on the same database,
 * as a separately deployed application process would have; on PGlite, which
 * has exactly one session, the scratch database itself (the application's
 * statements then queue with the migration's, one at a time).
 */
export async function openAppDatabase(scratch: ScratchDatabase): Promise<Database> {
  if (scratch.backend === 'pglite') {
    // Closing the scratch database is the suite's job, not the app's.
    return { ...scratch.database, close: async () => undefined };
  }
  return openDatabase({ url: scratch.url!, poolSize: 8 });
}
