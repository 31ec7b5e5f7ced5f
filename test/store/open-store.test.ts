import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ChatkeepError, openStore, type StoreOptions } from '../../src/index.js';
import { STORE_OPTION_NAMES } from '../../src/store/store-option-names.js';
import { BACKENDS, createPgDatabase, PG_AVAILABLE, scratchDatabase } from '../support/backends.js';
import { withPlainRole } from '../support/plain-role.js';
import { caught } from '../support/store-fixture.js';

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: opening a store`, () => {
    it('migrate: false refuses a database that is not migrated, and writes nothing', async () => {
      const scratch = await scratchDatabase(backend.name);
      try {
        const error = await caught(() => openStore({ database: scratch.database, migrate: false }));
        expect(error.code).toBe('CK_SCHEMA_NOT_READY');
        const { rows } = await sql`select 1 from pg_namespace where nspname = 'chatkeep'`.execute(scratch.database.db);
        expect(rows).toEqual([]);
      } finally {
        await scratch.drop();
      }
    });

    it('records its settings at first migrate and refuses contradicting ones, naming the field', async () => {
      const scratch = await scratchDatabase(backend.name);
      try {
        const first = await openStore({ database: scratch.database, maxContentLength: 1000 });
        expect(first.settings.maxContentLength).toBe(1000);
        await first.close();
        // Omitted settings take the installed values.
        const again = await openStore({ database: scratch.database });
        expect(again.settings.maxContentLength).toBe(1000);
        await again.close();
        const error = await caught(() => openStore({ database: scratch.database, maxContentLength: 5000 }));
        expect(error.code).toBe('CK_CONFIG');
        expect(error.details?.['field']).toBe('maxContentLength');
      } finally {
        await scratch.drop();
      }
    });

    it('lives in its own schema and can use another one; two installs do not see each other', async () => {
      const scratch = await scratchDatabase(backend.name);
      try {
        const a = await openStore({ database: scratch.database, schema: 'chat_a' });
        const b = await openStore({ database: scratch.database, schema: 'chat_b' });
        await a.conversations.create('same-user', { title: 'in a' });
        expect((await b.conversations.list('same-user')).conversations).toEqual([]);
        const error = await caught(() => openStore({ database: scratch.database, schema: 'Bad-Name' }));
        expect(error.code).toBe('CK_CONFIG');
        await a.close();
        await b.close();
      } finally {
        await scratch.drop();
      }
    });

    it('with a host users table, every row has a real foreign key: deleting the user deletes their chat data', async () => {
      const scratch = await scratchDatabase(backend.name);
      const db = scratch.database.db;
      try {
        await sql`create table public.users (id integer primary key, email text not null)`.execute(db);
        await sql`insert into public.users values (1, 'a@example.com'), (2, 'b@example.com')`.execute(db);
        const store = await openStore({ database: scratch.database, users: { table: 'public.users', column: 'id', type: 'integer' } });
        const c1 = await store.conversations.create('1');
        await store.turns.append('1', c1.id, { user: 'hi', assistant: 'hello' });
        await store.onboarding.start('1', { flow: 'coach', phase: 'welcome' });
        const c2 = await store.conversations.create('2');
        // A user id that is not in the host table is rejected by the foreign key.
        // The message says so, for every table that keys on the user.
        for (const write of [
          () => store.conversations.create('3'),
          () => store.onboarding.start('3', { flow: 'coach', phase: 'welcome' }),
          () => store.apiKeys.create('3', { name: 'k' }),
          () => store.flags.setOverride('3', 'some-flag', true),
        ]) {
          const unknown = await caught(write);
          expect(unknown.code).toBe('CK_VALIDATION');
          expect(unknown.details?.['field']).toBe('userId');
          expect(unknown.message).toMatch(/^userId: not a user in the host application's users table \(23503 \w+_user_fk\)$/);
        }
        const notInteger = await caught(() => store.conversations.create('abc'));
        expect(notInteger.code).toBe('CK_VALIDATION');
        expect(notInteger.details?.['field']).toBe('userId');

        await sql`delete from public.users where id = 1`.execute(db);
        const { rows } = await sql<{ n: number }>`select
            (select count(*) from chatkeep.conversations where user_id = 1)
          + (select count(*) from chatkeep.messages where user_id = 1)
          + (select count(*) from chatkeep.onboarding_sessions where user_id = 1) as n`.execute(db);
        expect(Number(rows[0]?.n)).toBe(0);
        expect((await store.conversations.get('2', c2.id)).userId).toBe('2');
        await store.close();
      } finally {
        await scratch.drop();
      }
    });

    it('a closed store refuses calls with CK_STORE_CLOSED', async () => {
      const scratch = await scratchDatabase(backend.name);
      try {
        const store = await openStore({ database: scratch.database });
        await store.close();
        const error = await caught(() => store.conversations.list('someone'));
        expect(error.code).toBe('CK_STORE_CLOSED');
      } finally {
        await scratch.drop();
      }
    });

    it('close() while calls are in flight: each either completes or is refused with CK_STORE_CLOSED, and what completed is stored', async () => {
      // The store owns its database here (url / dataDir), so close() ends the pool or PGlite itself.
      let target: { url: string } | { dataDir: string };
      let cleanup: () => Promise<void>;
      if (backend.name === 'postgres') {
        const created = await createPgDatabase();
        target = { url: created.url };
        cleanup = created.drop;
      } else {
        const dir = mkdtempSync(join(tmpdir(), 'chatkeep-close-'));
        target = { dataDir: join(dir, 'data') };
        cleanup = async () => rmSync(dir, { recursive: true, force: true });
      }
      try {
        const store = await openStore(target);
        const conversation = await store.conversations.create('u1');
        await store.conversations.create('u2');
        // More calls than the pool has connections (10), so some wait for one when close() begins.
        const calls = [
          ...Array.from({ length: 24 }, (_, i) => store.turns.append('u1', conversation.id, { user: `q${i}`, assistant: `a${i}` })),
          store.eraseUser('u2'),
        ];
        await new Promise((resolve) => setTimeout(resolve, 5));
        // And one started in the same tick as close(): past the open check, not yet at the pool.
        const late = store.messages.list('u1', conversation.id);
        const closing = store.close();
        const outcomes = await Promise.allSettled([...calls, late]);
        await closing;
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') {
            expect(outcome.reason).toBeInstanceOf(ChatkeepError);
            expect((outcome.reason as ChatkeepError).code).toBe('CK_STORE_CLOSED');
          }
        }
        const appended = outcomes.slice(0, 24).filter((o) => o.status === 'fulfilled').length;
        const reopened = await openStore(target);
        try {
          const page = await reopened.messages.list('u1', conversation.id, { limit: 100 });
          expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: appended * 2 }, (_, i) => i + 1));
        } finally {
          await reopened.close();
        }
      } finally {
        await cleanup();
      }
    });
  });
}

describe.skipIf(!PG_AVAILABLE)('postgres: opening a store as a role without rights on chatkeep\'s schema', () => {
  it("keeps PostgreSQL's own words (permission denied for schema chatkeep), not CK_INTERNAL \"Database error 42501\"", async () => {
    const scratch = await scratchDatabase('postgres');
    try {
      await (await openStore({ database: scratch.database })).close();
      await withPlainRole(scratch, 'ck_no_grant', async (url) => {
        const error = (await openStore({ url, migrate: false }).catch((e: unknown) => e)) as Error & { code?: string };
        expect([error.code, error.message]).toEqual(['42501', 'permission denied for schema chatkeep']);
      });
    } finally {
      await scratch.drop();
    }
  });
});

describe('flagCache options', () => {
  it('a ttlMs or maxOverrides that is not a whole number in range is CK_CONFIG naming it, before any data folder is made', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ck-flag-cache-'));
    try {
      const cases: [Record<string, number>, string][] = [
        [{ ttlMs: Number.POSITIVE_INFINITY }, 'flagCache.ttlMs'],
        [{ ttlMs: Number.NaN }, 'flagCache.ttlMs'],
        [{ ttlMs: -1 }, 'flagCache.ttlMs'],
        [{ ttlMs: 1.5 }, 'flagCache.ttlMs'],
        [{ maxOverrides: -5 }, 'flagCache.maxOverrides'],
        [{ maxOverrides: Number.POSITIVE_INFINITY }, 'flagCache.maxOverrides'],
      ];
      for (const [flagCache, field] of cases) {
        const dataDir = join(root, 'data');
        const error = await caught(() => openStore({ dataDir, flagCache }));
        expect(error.code, JSON.stringify(flagCache)).toBe('CK_CONFIG');
        expect(error.details?.['field']).toBe(field);
        expect(error.message).toMatch(/expected a whole number from 0 to/);
        expect(existsSync(dataDir)).toBe(false);
      }
      const store = await openStore({ dataDir: 'memory://', flagCache: { ttlMs: 0, maxOverrides: 0 } });
      await store.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('unknown options', () => {
  it('an option openStore does not know is CK_CONFIG naming it (with the near name for a typo), before any data folder is made', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ck-unknown-option-'));
    try {
      const dataDir = join(root, 'data');
      const cases: [Record<string, unknown>, string][] = [
        [{ maxContentLenght: 5 }, 'maxContentLenght: not an option of openStore; did you mean maxContentLength?'],
        [{ poolsize: 5 }, 'poolsize: not an option of openStore; did you mean poolSize?'],
        // Case does not count towards the distance: an option spelt in capitals is found.
        [{ POOLSIZE: 5 }, 'POOLSIZE: not an option of openStore; did you mean poolSize?'],
        [{ datadir: '/elsewhere' }, 'datadir: not an option of openStore; did you mean dataDir?'],
        [{ connectionString: 'postgres://x' }, `connectionString: not an option of openStore (options: ${STORE_OPTION_NAMES.join(', ')})`],
      ];
      for (const [extra, message] of cases) {
        const error = await caught(() => openStore({ dataDir, ...extra } as StoreOptions));
        expect(error.code).toBe('CK_CONFIG');
        expect(error.message).toBe(message);
        expect(error.details?.['field']).toBe(Object.keys(extra)[0]);
        expect(existsSync(dataDir)).toBe(false);
      }
      // A known option left undefined (spread from optional settings) is fine.
      const store = await openStore({ dataDir: 'memory://', ...({ schema: undefined, extra: undefined } as unknown as StoreOptions) });
      await store.close();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('the names it knows are exactly the keys of StoreOptions', () => {
    // Compile-time: a StoreOptions key missing from the list (or a name that is no key) fails the type check.
    type Missing = Exclude<keyof StoreOptions, (typeof STORE_OPTION_NAMES)[number]>;
    const noneMissing: [Missing] extends [never] ? true : false = true;
    const allKeys: readonly (keyof StoreOptions)[] = STORE_OPTION_NAMES;
    expect([noneMissing, new Set(allKeys).size]).toEqual([true, STORE_OPTION_NAMES.length]);
  });
});
