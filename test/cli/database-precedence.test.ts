import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, chatkeepSchemas, createPgDatabase } from '../support/backends.js';
import { assertBuilt, chatkeep } from './cli-process.js';

/**
 * Which database `chatkeep` works on: an option typed on the command line
 * beats the environment, and the command says which one it used.
 */
describe('chatkeep: the command line beats the environment', () => {
  let dir = '';
  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'chatkeep-cli-precedence-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--database-url and --data-dir together are a usage error naming both, before the folder is created', async () => {
    const dataDir = join(dir, 'both');
    const run = await chatkeep(['--database-url', 'postgres://someone@127.0.0.1:1/x', '--data-dir', dataDir, 'keys', 'list', '--user', 'demo-user']);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(run.stderr).toBe('error: --database-url and --data-dir name two databases: give one of them\n');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('demo --memory with --data-dir is a usage error too: both name a database', async () => {
    const dataDir = join(dir, 'memory-and-dir');
    const run = await chatkeep(['--data-dir', dataDir, 'demo', '--memory']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('error: --memory cannot be combined with --data-dir: both name a database\n');
    expect(existsSync(dataDir)).toBe(false);
  });

  const postgres = BACKENDS.find((b) => b.name === 'postgres')!;
  describe.skipIf(postgres.skip)('with DATABASE_URL naming a real PostgreSQL database', () => {
    let scratch: Awaited<ReturnType<typeof createPgDatabase>> | undefined;
    beforeAll(async () => {
      scratch = await createPgDatabase();
    });
    afterAll(() => scratch?.drop());

    const chatkeepSchemasHere = () => chatkeepSchemas(scratch!.url);

    it('--data-dir beats DATABASE_URL, and the Database line says so', async () => {
      const dataDir = join(dir, 'data');
      const run = await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', 'demo-user'], { DATABASE_URL: scratch!.url });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe(`Database: PGlite at ${dataDir} (schema "chatkeep")\nno API keys for user "demo-user"\n`);
      expect(existsSync(dataDir)).toBe(true);
      expect(await chatkeepSchemasHere()).toEqual([]);
    });

    it('demo --memory beats DATABASE_URL: it runs in memory and writes nothing to PostgreSQL', async () => {
      const run = await chatkeep(['demo', '--memory'], { DATABASE_URL: scratch!.url });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('Data lives in: PGlite in memory (schema "chatkeep")');
      expect(await chatkeepSchemasHere()).toEqual([]);
    });

    it('--database-url beats CHATKEEP_DATA_DIR, which is left uncreated', async () => {
      const envDir = join(dir, 'from-env');
      const run = await chatkeep(['--database-url', scratch!.url, 'keys', 'list', '--user', 'demo-user', '--json'], { CHATKEEP_DATA_DIR: envDir });
      expect(run.code, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout)).toEqual([]);
      // Installing chatkeep there is said on stderr (keys opens the store, which migrates), then the database line.
      expect(run.stderr).toContain('applying 0001 conversations…\n');
      expect(run.stderr.endsWith(`\nDatabase: PostgreSQL at ${scratch!.url} (schema "chatkeep")\n`)).toBe(true);
      expect(existsSync(envDir)).toBe(false);
      expect(await chatkeepSchemasHere()).toEqual(['chatkeep']);
    });
  });
});
