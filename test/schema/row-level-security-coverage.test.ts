import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, runInRowScope, type Database } from '../../src/db/index.js';
import { openStore, type Store } from '../../src/index.js';
import {
  BACKENDS,
  PG_ADMIN_URL,
  PG_AVAILABLE,
  scratchDatabase,
  type ScratchDatabase,
} from '../support/backends.js';
import { dropScratchWithRoles, storeRoleUrl } from '../support/plain-role.js';
import { newUser, useStore } from '../support/store-fixture.js';

/**
 * SPEC R-SEC-1, row-level security (migration 0007): every table that holds
 * a user's rows — every table with a `user_id` column — is protected, and a
 * bound role acting for one user sees none of another user's rows in any of
 * them, not only in conversations and messages (test/store/row-level-security.test.ts).
 */
const USER_TABLES = [
  'api_keys',
  'conversations',
  'feature_flag_overrides',
  'idempotency_keys',
  'messages',
  'onboarding_sessions',
  'streamed_turns',
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: row-level security covers every user table`,
    () => {
      const fixture = useStore(backend.name);

      it('each table with a user_id column has row-level security enabled and its one policy', async () => {
        const { rows } = await sql<{ table: string; rls: boolean; policies: number }>`
        select c.relname as table, c.relrowsecurity as rls,
               (select count(*)::int from pg_catalog.pg_policy p where p.polrelid = c.oid) as policies
          from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'chatkeep' and c.relkind = 'r'
           and exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attname = 'user_id' and not a.attisdropped)
         order by c.relname`.execute(fixture.scratch().database.db);
        expect(rows).toEqual(USER_TABLES.map((table) => ({ table, rls: true, policies: 1 })));
      });
    },
  );
}

if (!PG_AVAILABLE)
  console.warn(
    `[chatkeep tests] SKIPPING row-level security coverage cases: they need PostgreSQL (none answers at ${PG_ADMIN_URL})`,
  );

describe.skipIf(!PG_AVAILABLE)(
  'postgres: a bound role acting for one user sees only that user’s rows, in every user table',
  () => {
    const role = `ck_rls_cover_${process.pid}`;
    let scratch: ScratchDatabase;
    let owner: Store;
    let raw: Database;
    // `_` is allowed in a user id, and is a wildcard to LIKE: the policy must compare ids exactly.
    const alice = newUser('a_ice');
    const lookalike = alice.replace('a_ice', 'alice');

    beforeAll(async () => {
      scratch = await scratchDatabase('postgres');
      owner = await openStore({ database: scratch.database });
      raw = await openDatabase({ url: await storeRoleUrl(scratch, role), poolSize: 1 });
      raw.enforceRowScope();
      // One row or more in each user table, for both users, written as the owner (not bound).
      await owner.flags.define('coverage-flag', { enabled: true });
      for (const user of [alice, lookalike]) {
        const c = await owner.conversations.create(user);
        await owner.turns.append(user, c.id, { user: 'q', assistant: 'a', idempotencyKey: 'k' });
        await owner.turns.begin(user, c.id, 'streaming');
        await owner.onboarding.start(user, { flow: 'coach', phase: 'welcome' });
        await owner.apiKeys.create(user, { name: 'laptop' });
        await owner.flags.setOverride(user, 'coverage-flag', true);
      }
    });

    afterAll(async () => {
      await raw?.close();
      await owner?.close();
      if (scratch !== undefined) {
        await dropScratchWithRoles(scratch, [role]);
      }
    });

    it('the owner sees both users in each table (the control)', async () => {
      for (const table of USER_TABLES) {
        const { rows } = await sql<{
          user_id: string;
        }>`select distinct user_id from ${sql.table(`chatkeep.${table}`)} order by user_id`.execute(
          scratch.database.db,
        );
        expect(
          rows.map((r) => r.user_id),
          table,
        ).toEqual([alice, lookalike].sort());
      }
    });

    it('a query without a user filter, in alice’s scope, sees alice’s rows alone in each table', async () => {
      for (const table of USER_TABLES) {
        const seen = await runInRowScope({ user: alice }, async () => {
          const { rows } = await sql<{
            user_id: string;
          }>`select distinct user_id from ${sql.table(`chatkeep.${table}`)}`.execute(raw.db);
          return rows.map((r) => r.user_id);
        });
        expect(seen, table).toEqual([alice]);
      }
    });
  },
);
