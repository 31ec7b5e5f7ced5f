import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, chatkeep } from './cli-process.js';

beforeAll(assertBuilt);

describe('chatkeep CLI: unusable database → exit 3', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chatkeep-cli-unavailable-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 3 with a clear message when PostgreSQL cannot be reached', async () => {
    // Port 1 refuses connections immediately: no timeout to wait for.
    const run = await chatkeep([
      '--database-url',
      'postgres://postgres@127.0.0.1:1/x',
      'migrate',
      'up',
    ]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /^error \[CK_DB_UNAVAILABLE\]: Cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/x/m,
    );
    expect(run.stdout).toBe('');
  });

  it('takes the URL from DATABASE_URL and never prints its password', async () => {
    const run = await chatkeep(['migrate', 'status'], {
      DATABASE_URL: 'postgres://app:s3cret@127.0.0.1:1/x',
    });
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('CK_DB_UNAVAILABLE');
    expect(run.stderr).not.toContain('s3cret');
  });

  it('exits 3 when the data folder is a file', async () => {
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'hello');
    const run = await chatkeep(['--data-dir', file, 'migrate', 'status']);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(
      /^error \[CK_DATA_DIR\]: Data folder .*not-a-folder is a file, not a folder/m,
    );
  });

  it('exits 3 when the data folder holds something other than a database', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'not a database');
    const run = await chatkeep(['--data-dir', dir, 'migrate', 'status']);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('is not empty and is not a chatkeep/PGlite data folder');
  });
});
