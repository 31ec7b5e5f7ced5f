import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR, resolveDatabaseOptions } from '../../src/db/database-options.js';
import { openStore } from '../../src/index.js';
import { BACKENDS, chatkeepSchemas, createPgDatabase } from '../support/backends.js';
import { caught } from '../support/store-fixture.js';

/** What `work` throws; fails the test when it returns. */
function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/**
 * Which database a caller gets: what it passes beats the environment, so the
 * README's quick start (`dataDir: 'memory://'`) never writes into the
 * `DATABASE_URL` a developer's shell happens to export.
 */
describe('which database: the options beat the environment', () => {
  const url = 'postgres://app@db/app';
  const env = { DATABASE_URL: 'postgres://env@db/env', CHATKEEP_DATA_DIR: '/srv/env-data' };

  it('an explicit dataDir beats DATABASE_URL and CHATKEEP_DATA_DIR', () => {
    expect(resolveDatabaseOptions({ dataDir: 'memory://' }, env)).toEqual({ kind: 'pglite', dataDir: 'memory://' });
    expect(resolveDatabaseOptions({ dataDir: '/srv/mine' }, env)).toEqual({ kind: 'pglite', dataDir: '/srv/mine' });
  });

  it('an explicit url beats DATABASE_URL and CHATKEEP_DATA_DIR', () => {
    expect(resolveDatabaseOptions({ url }, env)).toMatchObject({ kind: 'postgres', url });
  });

  it('with neither given, DATABASE_URL, else CHATKEEP_DATA_DIR, else the default folder', () => {
    expect(resolveDatabaseOptions({}, env)).toMatchObject({ kind: 'postgres', url: env.DATABASE_URL });
    expect(resolveDatabaseOptions({}, { ...env, DATABASE_URL: ' ' })).toEqual({ kind: 'pglite', dataDir: env.CHATKEEP_DATA_DIR });
    expect(resolveDatabaseOptions({}, {})).toEqual({ kind: 'pglite', dataDir: DEFAULT_DATA_DIR });
  });

  it("pooler: 'transaction' marks a PostgreSQL URL; any other value, or a pooler with the embedded database, is CK_CONFIG naming pooler", () => {
    expect(resolveDatabaseOptions({ url, pooler: 'transaction' }, env)).toMatchObject({ kind: 'postgres', url, transactionPooler: true });
    expect(resolveDatabaseOptions({ url }, env)).toMatchObject({ transactionPooler: false });
    for (const [options, message] of [
      [{ url, pooler: 'session' }, "pooler: expected 'transaction'"],
      [{ dataDir: 'memory://', pooler: 'transaction' }, 'pooler: only for PostgreSQL'],
    ] as const) {
      let error: unknown;
      try {
        resolveDatabaseOptions(options as never, {});
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: 'CK_CONFIG', details: { field: 'pooler' } });
      expect((error as Error).message.startsWith(message)).toBe(true);
    }
  });

  it('a blank CHATKEEP_DATA_DIR is unset, as a blank DATABASE_URL is; a blank dataDir passed by the caller is CK_CONFIG naming it', () => {
    // `CHATKEEP_DATA_DIR=` in a compose file or .env whose variable is unset.
    expect(resolveDatabaseOptions({}, { CHATKEEP_DATA_DIR: ' ' })).toEqual({ kind: 'pglite', dataDir: DEFAULT_DATA_DIR });
    expect(resolveDatabaseOptions({}, { CHATKEEP_DATA_DIR: '' })).toEqual({ kind: 'pglite', dataDir: DEFAULT_DATA_DIR });
    expect(thrown(() => resolveDatabaseOptions({ dataDir: ' ' }, env))).toMatchObject({ code: 'CK_CONFIG', message: 'dataDir: must not be empty', details: { field: 'dataDir' } });
  });

  it('a url is postgres:// or postgresql://; poolSize is a whole number from 1 to 1000 and connectTimeoutMs a positive one, else CK_CONFIG naming it', () => {
    expect(resolveDatabaseOptions({ url: 'postgresql://app@db/app' }, {})).toMatchObject({ kind: 'postgres', url: 'postgresql://app@db/app' });
    expect(thrown(() => resolveDatabaseOptions({ url: 'mysql://app@db/app' }, {}))).toMatchObject({ code: 'CK_CONFIG', details: { field: 'url' } });
    expect(resolveDatabaseOptions({ url }, {})).toMatchObject({ poolSize: 10, connectTimeoutMs: 5000 });
    for (const poolSize of [1, 1000]) expect(resolveDatabaseOptions({ url, poolSize }, {})).toMatchObject({ poolSize });
    for (const poolSize of [0, 1001, 2.5, Number.NaN]) {
      expect(thrown(() => resolveDatabaseOptions({ url, poolSize }, {})), `poolSize ${poolSize}`).toMatchObject({ code: 'CK_CONFIG', details: { field: 'poolSize' } });
    }
    expect(resolveDatabaseOptions({ url, connectTimeoutMs: 1 }, {})).toMatchObject({ connectTimeoutMs: 1 });
    for (const connectTimeoutMs of [0, -5, 1.5]) {
      expect(thrown(() => resolveDatabaseOptions({ url, connectTimeoutMs }, {})), `connectTimeoutMs ${connectTimeoutMs}`).toMatchObject({
        code: 'CK_CONFIG',
        details: { field: 'connectTimeoutMs' },
      });
    }
  });

  it('url and dataDir together are CK_CONFIG naming url, whatever the environment says', () => {
    for (const environment of [env, {}]) {
      let error: unknown;
      try {
        resolveDatabaseOptions({ url, dataDir: 'memory://' }, environment);
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toMatchObject({ code: 'CK_CONFIG', details: { field: 'url' } });
      expect((error as Error).message).toBe('url: pass either url (PostgreSQL) or dataDir (the embedded database), not both');
    }
  });
});

describe('openStore: which database, with the environment set', () => {
  const saved = { DATABASE_URL: process.env['DATABASE_URL'], CHATKEEP_DATA_DIR: process.env['CHATKEEP_DATA_DIR'] };
  let root = '';
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'chatkeep-precedence-'));
  });
  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('url and dataDir together are refused before anything is opened or created', async () => {
    const dataDir = join(root, 'both');
    const error = await caught(() => openStore({ url: 'postgres://someone@127.0.0.1:1/nowhere', dataDir }));
    expect(error.code).toBe('CK_CONFIG');
    expect(error.details?.['field']).toBe('url');
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

    it("the quick start's dataDir: 'memory://' uses PGlite and writes nothing to PostgreSQL", async () => {
      process.env['DATABASE_URL'] = scratch!.url;
      const store = await openStore({ dataDir: 'memory://' });
      try {
        expect(store.description).toBe('PGlite in memory');
        const c = await store.conversations.create('user-1', { title: 'Hello' });
        await store.turns.append('user-1', c.id, { user: 'Hi', assistant: 'Hello!' });
      } finally {
        await store.close();
      }
      expect(await chatkeepSchemasHere()).toEqual([]);
    });

    it('a dataDir folder beats DATABASE_URL too', async () => {
      process.env['DATABASE_URL'] = scratch!.url;
      const dataDir = join(root, 'folder');
      const store = await openStore({ dataDir });
      try {
        expect(store.description).toBe(`PGlite at ${dataDir}`);
      } finally {
        await store.close();
      }
      expect(existsSync(dataDir)).toBe(true);
      expect(await chatkeepSchemasHere()).toEqual([]);
    });

    it('an explicit url beats CHATKEEP_DATA_DIR, which is left uncreated', async () => {
      delete process.env['DATABASE_URL'];
      process.env['CHATKEEP_DATA_DIR'] = join(root, 'from-env');
      const store = await openStore({ url: scratch!.url, schema: 'chatkeep_explicit_url' });
      try {
        expect(store.description).toMatch(/^PostgreSQL at postgres/);
      } finally {
        await store.close();
      }
      expect(await chatkeepSchemasHere()).toEqual(['chatkeep_explicit_url']);
      expect(existsSync(join(root, 'from-env'))).toBe(false);
    });

    it('with neither given, DATABASE_URL still selects PostgreSQL over CHATKEEP_DATA_DIR', async () => {
      process.env['DATABASE_URL'] = scratch!.url;
      process.env['CHATKEEP_DATA_DIR'] = join(root, 'from-env-too');
      const store = await openStore({ schema: 'chatkeep_from_env' });
      try {
        expect(store.description).toMatch(/^PostgreSQL at postgres/);
      } finally {
        await store.close();
      }
      expect(await chatkeepSchemasHere()).toContain('chatkeep_from_env');
      expect(existsSync(join(root, 'from-env-too'))).toBe(false);
    });
  });
});
