import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/index.js';
import { assertBuilt, chatkeep } from './cli-process.js';

/** `chatkeep keys …` and `chatkeep retention purge` as users run them (the built CLI, a PGlite folder). */
// The longer cases run the CLI six or seven times, each a process that opens the PGlite folder: 35-45 s
// on a busy 2-core machine, too close to the default 60 s.
describe('chatkeep keys and retention', () => {
  let dir = '';
  let dataDir = '';
  /** What each of these commands prints first: the database it works on (on stderr with --json, so stdout stays one document). */
  let databaseLine = '';
  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'chatkeep-keys-'));
    dataDir = join(dir, 'data');
    databaseLine = `Database: PGlite at ${dataDir} (schema "chatkeep")`;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keys create, list and revoke and retention purge name their database first: on stdout, or on stderr with --json', { timeout: 120_000 }, async () => {
    const created = await chatkeep(['--data-dir', dataDir, 'keys', 'create', '--user', 'erin']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout.split('\n')[0]).toBe(databaseLine);
    expect(created.stdout.split('\n')[1]).toMatch(/^API key \S+ for user "erin"/);
    const createdJson = await chatkeep(['--data-dir', dataDir, 'keys', 'create', '--user', 'erin', '--json']);
    expect([createdJson.code, createdJson.stderr]).toEqual([0, `${databaseLine}\n`]);
    const { apiKey } = JSON.parse(createdJson.stdout) as { apiKey: { id: string } };

    const listed = await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', 'erin']);
    expect(listed.stdout.split('\n')[0]).toBe(databaseLine);
    const listedJson = await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', 'erin', '--json']);
    expect([listedJson.code, listedJson.stderr]).toEqual([0, `${databaseLine}\n`]);
    expect(JSON.parse(listedJson.stdout)).toHaveLength(2);

    const revoked = await chatkeep(['--data-dir', dataDir, 'keys', 'revoke', '--user', 'erin', apiKey.id]);
    expect(revoked.stdout.split('\n')[0]).toBe(databaseLine);

    const purged = await chatkeep(['--data-dir', dataDir, 'retention', 'purge', '--older-than', '365d']);
    expect(purged.code, purged.stderr).toBe(0);
    expect(purged.stdout.split('\n')[0]).toBe(databaseLine);
    expect(purged.stdout.split('\n')[1]).toMatch(/^Purged 0 conversations/);
    const purgedJson = await chatkeep(['--data-dir', dataDir, 'retention', 'purge', '--older-than', '365d', '--json']);
    expect([purgedJson.code, purgedJson.stderr]).toEqual([0, `${databaseLine}\n`]);
    expect(JSON.parse(purgedJson.stdout)).toMatchObject({ conversations: 0 });
  });

  it('create prints a secret once; list shows the key without it; revoke marks it; the secret then stops working', { timeout: 120_000 }, async () => {
    const created = await chatkeep(['--data-dir', dataDir, 'keys', 'create', '--user', 'alice', '--name', 'laptop', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const { apiKey, secret } = JSON.parse(created.stdout) as { apiKey: { id: string; prefix: string }; secret: string };
    const listed = await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', 'alice']);
    expect(listed.stdout).toContain(`${apiKey.id}  ${apiKey.prefix}…  laptop`);
    expect(listed.stdout).toContain('never used');
    expect(listed.stdout).not.toContain(secret);
    const revoked = await chatkeep(['--data-dir', dataDir, 'keys', 'revoke', '--user', 'alice', apiKey.id]);
    expect([revoked.code, revoked.stdout]).toEqual([0, `${databaseLine}\nrevoked ${apiKey.id} (${apiKey.prefix}…) of user "alice"\n`]);
    expect((await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', 'alice'])).stdout).toContain('revoked ');
    const store = await openStore({ dataDir });
    try {
      expect(await store.apiKeys.authenticate(secret)).toBeUndefined();
    } finally {
      await store.close();
    }
    const other = await chatkeep(['--data-dir', dataDir, 'keys', 'revoke', '--user', 'bob', apiKey.id]);
    expect([other.code, other.stderr]).toEqual([1, 'error [CK_NOT_FOUND]: API key not found\n']);
  });

  it('a bad value is a usage error (exit 2) naming the option typed, not the store field, and issues nothing', async () => {
    const cases: [string[], string][] = [
      [['keys', 'create', '--user', 'bad user'], '--user: expected 1–128 characters'],
      [['keys', 'list', '--user', ''], '--user: expected 1–128 characters'],
      [['keys', 'create', '--user', 'frank', '--name', 'n'.repeat(101)], '--name: must be at most 100 characters'],
      [['keys', 'revoke', '--user', 'frank', 'not-a-key-id'], '<key-id>: expected a UUID'],
    ];
    for (const [args, message] of cases) {
      const run = await chatkeep(['--data-dir', dataDir, ...args]);
      expect([run.code, run.stderr.startsWith(`error [CK_VALIDATION]: ${message}`)], `${args.join(' ')}: ${run.stderr}`).toEqual([2, true]);
    }
    const listed = await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', 'frank', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([]);
  });

  it('retention purge deletes only inactive conversations and reports counts; a bad age is a usage error', async () => {
    const store = await openStore({ dataDir });
    const keep = await store.conversations.create('carol');
    const { id: old } = await store.conversations.create('carol');
    await store.turns.append('carol', old, { user: 'hi', assistant: 'hello' });
    await store.close();
    const { openDatabase } = await import('../../src/db/index.js');
    const { sql } = await import('kysely');
    const database = await openDatabase({ dataDir });
    await sql`update chatkeep.conversations set created_at = now() - interval '400 days', last_message_at = now() - interval '400 days' where id = ${old}::uuid`.execute(database.db);
    await database.close();

    const purge = await chatkeep(['--data-dir', dataDir, 'retention', 'purge', '--older-than', '365d', '--json']);
    expect(purge.code, purge.stderr).toBe(0);
    expect(JSON.parse(purge.stdout)).toMatchObject({ conversations: 1, messages: 2, batches: 1 });
    const after = await openStore({ dataDir });
    try {
      expect((await after.conversations.list('carol')).conversations.map((c) => c.id)).toEqual([keep.id]);
    } finally {
      await after.close();
    }
    const bad = await chatkeep(['--data-dir', dataDir, 'retention', 'purge', '--older-than', '3 weeks']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected an age like 90d');
  });

  // Opening the store applies pending migrations; a command whose name says it only lists keys
  // once did so without a word (a mistyped --schema installed a whole new schema silently).
  it('keys list on a database with pending migrations says it applies them, on stderr; stdout is unchanged', { timeout: 120_000 }, async () => {
    const behind = join(dir, 'behind');
    const installed = await chatkeep(['--data-dir', behind, 'migrate', 'up', '--to', '5']);
    expect(installed.code, installed.stderr).toBe(0);
    const listed = await chatkeep(['--data-dir', behind, 'keys', 'list', '--user', 'gina']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toBe(`Database: PGlite at ${behind} (schema "chatkeep")\nno API keys for user "gina"\n`);
    for (const migration of ['0006 feature-flags', '0007 row-level-security', '0008 rate-limits']) {
      expect(listed.stderr).toContain(`applying ${migration}…`);
      expect(listed.stderr).toMatch(new RegExp(`applied  ${migration} \\(`));
    }
    // Nothing pending: nothing more is said.
    const again = await chatkeep(['--data-dir', behind, 'keys', 'list', '--user', 'gina', '--json']);
    expect([again.code, again.stdout, again.stderr]).toEqual([0, '[]\n', `Database: PGlite at ${behind} (schema "chatkeep")\n`]);
  });

  // Hours and minutes are easy to swap; a swap purges 60 times too much (h) or too little (m).
  it('retention purge reads --older-than in hours (h) and minutes (m)', async () => {
    const store = await openStore({ dataDir });
    const { id } = await store.conversations.create('dave');
    await store.turns.append('dave', id, { user: 'hi', assistant: 'hello' });
    await store.close();
    const { openDatabase } = await import('../../src/db/index.js');
    const { sql } = await import('kysely');
    const database = await openDatabase({ dataDir });
    await sql`update chatkeep.conversations set created_at = now() - interval '3 hours', last_message_at = now() - interval '3 hours' where id = ${id}::uuid`.execute(database.db);
    await database.close();

    const started = Date.now();
    const fourHours = await chatkeep(['--data-dir', dataDir, 'retention', 'purge', '--older-than', '4h', '--json']);
    expect(fourHours.code, fourHours.stderr).toBe(0);
    const kept = JSON.parse(fourHours.stdout) as { before: string; conversations: number };
    expect(Math.abs(started - 4 * 3_600_000 - Date.parse(kept.before))).toBeLessThan(60_000);
    expect(kept.conversations).toBe(0);

    const twoHoursInMinutes = await chatkeep(['--data-dir', dataDir, 'retention', 'purge', '--older-than', '120m', '--json']);
    expect(twoHoursInMinutes.code, twoHoursInMinutes.stderr).toBe(0);
    const purged = JSON.parse(twoHoursInMinutes.stdout) as { before: string; conversations: number; messages: number };
    expect(Math.abs(started - 120 * 60_000 - Date.parse(purged.before))).toBeLessThan(60_000);
    expect(purged).toMatchObject({ conversations: 1, messages: 2 });
  });
});
