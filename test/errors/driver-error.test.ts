import { spawn } from 'node:child_process';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { sqlState, wrapDriverError } from '../../src/errors/index.js';
import type { ChatkeepError } from '../../src/index.js';
import { PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';

/**
 * Errors that errors/driver-error.ts classifies and no store call can be
 * made to produce on demand, each produced for real and then wrapped.
 */

/**
 * A real `write EPIPE`: writing to a pipe whose reader has closed it, the
 * error a socket gives when the server side is gone (pg passes it to the
 * query as it is).
 */
async function realEpipe(): Promise<NodeJS.ErrnoException> {
  const child = spawn('sh', ['-c', 'exec 0<&-; sleep 5'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    return await new Promise<NodeJS.ErrnoException>((resolve) => {
      child.stdin.on('error', resolve);
      const write = () => {
        if (child.stdin.destroyed) return;
        child.stdin.write('x', () => setTimeout(write, 20));
      };
      write();
    });
  } finally {
    child.kill();
  }
}

describe('driver errors that are not SQLSTATEs', () => {
  // EPIPE has the shape of a SQLSTATE (five capitals), so it was taken for one: CK_INTERNAL "Database error EPIPE".
  it('a socket write to a server that is gone (EPIPE) is CK_DB_UNAVAILABLE, like ECONNRESET, not a SQLSTATE', async () => {
    const epipe = await realEpipe();
    expect(epipe.code).toBe('EPIPE');
    expect(sqlState(epipe)).toBeUndefined();
    const wrapped = wrapDriverError(epipe) as ChatkeepError;
    expect([wrapped.code, wrapped.message]).toEqual([
      'CK_DB_UNAVAILABLE',
      `The database connection failed: ${epipe.message}`,
    ]);
    expect(wrapped.cause).toBe(epipe);
  });
});

if (!PG_AVAILABLE)
  console.warn(
    `[chatkeep tests] SKIPPING driver-error PostgreSQL cases: no PostgreSQL answers at ${PG_ADMIN_URL}`,
  );

describe.skipIf(!PG_AVAILABLE)('postgres: a server out of a resource', () => {
  it('a query past temp_file_limit (53400, a configuration limit) is CK_DB_UNAVAILABLE saying so, not CK_INTERNAL', async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      // A sort larger than work_mem spills to a temporary file, which the limit refuses.
      await client.query("set work_mem = '64kB'");
      await client.query("set temp_file_limit = '64kB'");
      const error = await client
        .query('select g from generate_series(1, 200000) g order by g desc')
        .catch((e: unknown) => e);
      expect(sqlState(error)).toBe('53400');
      const wrapped = wrapDriverError(error) as ChatkeepError;
      expect([wrapped.code, wrapped.details]).toEqual(['CK_DB_UNAVAILABLE', { sqlState: '53400' }]);
      expect(wrapped.message).toBe(
        'The database server ran out of a resource (53400: a configuration limit); nothing was written',
      );
      expect(wrapped.cause).toBe(error);
    } finally {
      await client.end();
    }
  });
});
