import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, chatkeepSchemas, createPgDatabase } from '../support/backends.js';
import { assertBuilt, chatkeep } from './cli-process.js';

/**
 * A value the command refuses anyway is refused before the database is
 * opened: on a new data folder, opening it runs initdb and installs the
 * whole schema; on PostgreSQL it installs chatkeep's schema. A usage error
 * (exit 2) must leave nothing behind, and name the option as typed.
 */
describe('chatkeep: bad values are refused before anything is created', () => {
  let dir = '';
  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'chatkeep-review-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keys create/list/revoke with a bad --user or --name create no data folder', { timeout: 120_000 }, async () => {
    const cases: [string[], string][] = [
      [['keys', 'create', '--user', 'bad user'], 'error [CK_VALIDATION]: --user: expected 1–128 characters'],
      [['keys', 'list', '--user', ''], 'error [CK_VALIDATION]: --user: expected 1–128 characters'],
      [['keys', 'create', '--user', 'frank', '--name', 'n'.repeat(101)], 'error [CK_VALIDATION]: --name: must be at most 100 characters'],
      [['keys', 'revoke', '--user', 'bad user', '0190f0f0-0000-7000-8000-000000000000'], 'error [CK_VALIDATION]: --user: expected 1–128 characters'],
    ];
    for (const [index, [args, message]] of cases.entries()) {
      const dataDir = join(dir, `keys-${index}`);
      const run = await chatkeep(['--data-dir', dataDir, ...args]);
      expect([run.code, run.stderr.split('\n').at(-2)?.startsWith(message)], `${args.join(' ')}: ${run.stderr}`).toEqual([2, true]);
      expect(run.stdout, args.join(' ')).toBe('');
      expect(existsSync(dataDir), `${args.join(' ')} created ${dataDir}`).toBe(false);
    }
  });

  it.skipIf(BACKENDS[1]!.skip !== false)('keys create with a bad --user installs nothing on PostgreSQL', { timeout: 60_000 }, async () => {
    const scratch = await createPgDatabase();
    try {
      const run = await chatkeep(['--database-url', scratch.url, 'keys', 'create', '--user', 'bad user']);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain('error [CK_VALIDATION]: --user: expected 1–128 characters');
      expect(await chatkeepSchemas(scratch.url)).toEqual([]);
    } finally {
      await scratch.drop();
    }
  });

  it('keys still accept a valid --user on a new folder (the check refuses only what no install accepts)', { timeout: 60_000 }, async () => {
    const dataDir = join(dir, 'keys-ok');
    const run = await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', '42', '--json']);
    expect([run.code, run.stdout], run.stderr).toEqual([0, '[]\n']);
  });

  it('retention purge --older-than reaching before the year 1 is a usage error naming --older-than, before the database is opened', { timeout: 60_000 }, async () => {
    const dataDir = join(dir, 'retention');
    const run = await chatkeep(['--data-dir', dataDir, 'retention', 'purge', '--older-than', '999999d']);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toContain("option '--older-than <age>' argument '999999d' is invalid");
    expect(run.stderr).not.toContain('before:');
    expect(existsSync(dataDir)).toBe(false);
  });

  it('retention purge --older-than 0d (or 0h, 0m: every conversation, however recent) is a usage error, before the database is opened', { timeout: 60_000 }, async () => {
    const dataDir = join(dir, 'retention-zero');
    for (const age of ['0d', '0h', '000m']) {
      const run = await chatkeep(['--data-dir', dataDir, 'retention', 'purge', '--older-than', age]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(`option '--older-than <age>' argument '${age}' is invalid. expected an age above zero`);
      expect(existsSync(dataDir)).toBe(false);
    }
  });

  // `mcp role` checked these before opening; `mcp` itself only after it had run initdb on a new folder.
  it('mcp --host-schema, --role and mcp role --grant-to: a bad name is refused before the data folder is created', { timeout: 60_000 }, async () => {
    const cases: [string[], string][] = [
      [['mcp', '--user', 'alice', '--host-schema', 'Bad-Schema'], 'error [CK_CONFIG]: --host-schema: expected a lower-case identifier'],
      [['mcp', '--user', 'alice', '--role', 'X'], 'error [CK_CONFIG]: --role: expected a lower-case identifier'],
      // `mcp role` checked --host-schema and --role first, but not --grant-to (named `grantTo[0]`).
      [['mcp', 'role', '--grant-to', 'app', 'X Y'], 'error [CK_CONFIG]: --grant-to: expected a lower-case identifier'],
    ];
    for (const [index, [args, message]] of cases.entries()) {
      const dataDir = join(dir, `mcp-${index}`);
      const run = await chatkeep(['--data-dir', dataDir, ...args]);
      expect([run.code, run.stderr.startsWith(message)], `${args.join(' ')}: ${run.stderr}`).toEqual([2, true]);
      expect(existsSync(dataDir), `${args.join(' ')} created ${dataDir}`).toBe(false);
    }
  });
});
