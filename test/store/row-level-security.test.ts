import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALL_USERS,
  hotStatement,
  openDatabase,
  runInRowScope,
  type Database,
} from '../../src/db/index.js';
import { grantStoreRole, openStore, type Store } from '../../src/index.js';
import {
  PG_AVAILABLE,
  PG_ADMIN_URL,
  scratchDatabase,
  type ScratchDatabase,
} from '../support/backends.js';
import { killRepeatedly, retriedWhileUnavailable } from '../support/connection-killer.js';
import { dropScratchWithRoles, storeRoleUrl } from '../support/plain-role.js';
import { PGBOUNCER_SKIP, startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { caught, newUser } from '../support/store-fixture.js';

/**
 * SPEC R-SEC-1's defence in depth: on PostgreSQL, row-level security policies
 * (migration 0007) bind a store that connects as a role that neither owns
 * chatkeep's tables nor is a superuser. The store must work in full under
 * them, and a query that forgot its user filter must still see and change
 * one user's rows only.
 */
if (!PG_AVAILABLE)
  console.warn(
    `[chatkeep tests] SKIPPING row-level security cases: they need PostgreSQL (none answers at ${PG_ADMIN_URL})`,
  );

/**
 * Each case runs on PostgreSQL itself and again through a real PgBouncer in
 * transaction mode (`pooler: 'transaction'`), where the acting user cannot
 * be a session setting: two server sessions for all the stores' clients, so
 * consecutive statements of one client land on different sessions, and a
 * scope left on one would reach another client's next transaction.
 */
const ROUTES = [
  { via: 'PostgreSQL itself', skip: !PG_AVAILABLE },
  { via: 'PgBouncer in transaction mode', skip: PGBOUNCER_SKIP !== false },
] as const;

for (const [index, { via, skip }] of ROUTES.entries()) {
  const pooled = index === 1;
  describe.skipIf(skip)(`postgres: row-level security, through ${via}`, () => {
    const role = `ck_rls_app_${process.pid}_${index}`;
    let scratch: ScratchDatabase;
    let owner: Store;
    let app: Store;
    let appUrl: string;
    let raw: Database;
    let bouncer: PgBouncer | undefined;
    /** Options for a store or database of the bound role, through the route under test. */
    const route = <T extends object>(options: T): T & { pooler?: 'transaction' } =>
      pooled ? { ...options, pooler: 'transaction' as const } : options;

    beforeAll(async () => {
      scratch = await scratchDatabase('postgres');
      owner = await openStore({ database: scratch.database });
      appUrl = await storeRoleUrl(scratch, role);
      if (pooled) {
        bouncer = await startPgBouncer('transaction', { poolSize: 2, users: [role] });
        appUrl = bouncer.url(new URL(appUrl).pathname.slice(1), role);
      }
      app = await openStore(route({ url: appUrl, migrate: false }));
      raw = await openDatabase(route({ url: appUrl, poolSize: 2 }));
      raw.enforceRowScope();
    });

    afterAll(async () => {
      await app?.close();
      await raw?.close();
      await owner?.close();
      await bouncer?.close();
      if (scratch !== undefined) {
        await dropScratchWithRoles(scratch, [role]);
      }
    });

    it('binds the granted role, not the owner', () => {
      expect(app.rowLevelSecurity).toBe(true);
      expect(owner.rowLevelSecurity).toBe(false);
    });

    it('opens as the role with migrations on once the owner has applied them all (what `serve` does)', async () => {
      const again = await openStore(route({ url: appUrl }));
      try {
        expect(again.rowLevelSecurity).toBe(true);
        expect((await again.schemaStatus()).pending).toEqual([]);
      } finally {
        await again.close();
      }
    });

    // The keyed append checks streamed_turns in the same statement, under its policy: the scope must be set before.
    it('a plain turn under the key of a turn still streaming is refused for the bound role too', async () => {
      const alice = newUser('alice');
      const c = await app.conversations.create(alice);
      const begun = await app.turns.begin(alice, c.id, 'Hi', { idempotencyKey: 'held' });
      const refused = await caught(() => app.turns.append(alice, c.id, { user: 'Hi', assistant: 'Hello!', idempotencyKey: 'held' }));
      expect([refused.code, refused.details?.['turnId']]).toEqual(['CK_CONFLICT', begun.id]);
      expect((await app.conversations.get(alice, c.id)).messageCount).toBe(0);
      await app.turns.appendText(alice, begun.id, 'Hello!');
      expect((await app.turns.commit(alice, begun.id)).assistantMessage.content).toBe('Hello!');
    });

    it('serves every part of the store to the bound role', async () => {
      const alice = newUser('alice');
      const bob = newUser('bob');
      const c = await app.conversations.create(alice, { title: 'Trip' });
      expect((await app.conversations.list(alice)).conversations.map((x) => x.id)).toEqual([c.id]);
      await app.conversations.update(alice, c.id, { title: 'Trip to Oslo', summary: null });
      const turn = await app.turns.append(alice, c.id, {
        user: 'Hi',
        assistant: 'Hello!',
        idempotencyKey: 'k1',
      });
      const replay = await app.turns.append(alice, c.id, {
        user: 'Hi',
        assistant: 'Hello!',
        idempotencyKey: 'k1',
      });
      expect(replay).toMatchObject({ id: turn.id, replayed: true });
      const ran = await app.turns.run(
        alice,
        c.id,
        'Plan day two',
        async ({ history }) => `You said ${history.length} things`,
      );
      expect(ran.assistantMessage.content).toBe('You said 2 things');
      const streamed = await app.turns.begin(alice, c.id, 'And day three?');
      await app.turns.appendText(alice, streamed.id, 'Museums');
      await app.turns.commit(alice, streamed.id);
      const aborted = await app.turns.begin(alice, c.id, 'Never mind');
      await app.turns.abort(alice, aborted.id);
      await app.turns.sweep();
      const page = await app.messages.list(alice, c.id, { limit: 2 });
      expect(page.messages.map((m) => m.content)).toEqual(['And day three?', 'Museums']);
      const older = await app.messages.list(alice, c.id, { before: page.olderCursor! });
      expect(older.messages).toHaveLength(4);
      expect(older.hasNewer).toBe(true);
      expect(JSON.parse(await app.messages.pageJson(alice, c.id)).messages).toHaveLength(6);

      const { session } = await app.onboarding.start(alice, { flow: 'coach', phase: 'welcome' });
      await app.onboarding.advance(alice, session.id, {
        phase: 'goals',
        steps: { welcome: true },
        context: { pace: 'easy' },
      });
      expect((await app.onboarding.complete(alice, session.id)).status).toBe('completed');

      const key = await app.apiKeys.create(alice, { name: 'laptop' });
      expect(await app.apiKeys.authenticate(key.secret)).toBe(alice);
      expect(await app.apiKeys.anyIssued()).toBe(true);
      await app.apiKeys.revoke(alice, key.apiKey.id);
      expect(await app.apiKeys.authenticate(key.secret)).toBeUndefined();

      await owner.flags.define('rls-check', { enabled: true, rolloutPercent: 0 });
      await app.flags.setOverride(alice, 'rls-check', true);
      expect(await app.flags.isEnabled(alice, 'rls-check')).toBe(true);
      expect(await app.flags.isEnabled(bob, 'rls-check')).toBe(false);

      // Rate-limit counts (--rate-limit-scope database) hold no user data and need no scope.
      expect((await app.rateLimits.hit(`user:${alice}`, 60_000)).current).toBe(1);
      expect((await app.rateLimits.hit(`user:${alice}`, 60_000)).current).toBe(2);
      await app.rateLimits.hit(`ip:${bob}`, 1);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(
        await app.rateLimits.prune(),
        'the bound role deletes the ended window',
      ).toBeGreaterThanOrEqual(1);

      // Another user's ids still answer exactly like missing ones.
      const foreign = await caught(() => app.messages.list(bob, c.id));
      const missing = await caught(() => app.messages.list(bob, randomUUID()));
      expect(foreign.code).toBe('CK_NOT_FOUND');
      expect(foreign.message).toBe(missing.message);

      const report = await app.eraseUser(alice);
      expect(report).toMatchObject({
        conversations: 1,
        messages: 6,
        onboardingSessions: 1,
        apiKeys: 1,
      });
      const left = await sql<{
        n: number;
      }>`select count(*)::int as n from chatkeep.messages where user_id = ${alice}`.execute(
        scratch.database.db,
      );
      expect(left.rows[0]?.n).toBe(0);
    });

    it('purges every user’s inactive conversations in system scope', async () => {
      const users = [newUser('old'), newUser('old')];
      for (const user of users) {
        const c = await app.conversations.create(user);
        await app.turns.append(user, c.id, { user: 'q', assistant: 'a' });
      }
      const report = await app.retention.purge({ before: new Date(Date.now() + 60_000) });
      expect(report.conversations).toBeGreaterThanOrEqual(2);
      const after = await sql<{
        n: number;
      }>`select count(*)::int as n from chatkeep.conversations where user_id in (${users[0]}, ${users[1]})`.execute(
        scratch.database.db,
      );
      expect(after.rows[0]?.n).toBe(0);
    });

    describe('a query that forgets its user filter', () => {
      let alice: string;
      let bob: string;
      beforeAll(async () => {
        alice = newUser('alice');
        bob = newUser('bob');
        for (const user of [alice, bob]) {
          const c = await app.conversations.create(user, { title: `${user} private` });
          await app.turns.append(user, c.id, { user: 'secret', assistant: 'kept' });
        }
      });

      const usersSeen = async (): Promise<string[]> => {
        const { rows } = await sql<{
          user_id: string;
        }>`select distinct user_id from chatkeep.messages order by user_id`.execute(raw.db);
        return rows.map((r) => r.user_id);
      };

      it('sees only the acting user’s rows, through Kysely and through a prepared hot statement', async () => {
        expect(await runInRowScope({ user: alice }, usersSeen)).toEqual([alice]);
        expect(await runInRowScope({ user: bob }, usersSeen)).toEqual([bob]);
        const count = hotStatement(
          'select count(*)::int as n, count(distinct user_id)::int as users from chatkeep.conversations',
        );
        expect(await runInRowScope({ user: alice }, () => raw.hot(count, []))).toEqual([
          { n: 1, users: 1 },
        ]);
      });

      it('sees nothing outside any scope, and every user in system scope', async () => {
        expect(await usersSeen()).toEqual([]);
        const all = await runInRowScope(ALL_USERS, usersSeen);
        expect(all).toEqual(expect.arrayContaining([alice, bob]));
      });

      it('changes only the acting user’s rows', async () => {
        const changed = await runInRowScope({ user: alice }, () =>
          sql`update chatkeep.conversations set title = 'overwritten'`.execute(raw.db),
        );
        expect(Number(changed.numAffectedRows)).toBe(1);
        const { rows } = await sql<{ user_id: string; title: string }>`
        select user_id, title from chatkeep.conversations where user_id in (${alice}, ${bob}) order by user_id`.execute(
          scratch.database.db,
        );
        expect(rows).toEqual([
          { user_id: alice, title: 'overwritten' },
          { user_id: bob, title: `${bob} private` },
        ]);
      });

      it('cannot write a row for another user, and writes nothing', async () => {
        const error = await caught(() =>
          runInRowScope({ user: alice }, () =>
            sql`insert into chatkeep.conversations (user_id, title) values (${bob}, 'planted')`.execute(
              raw.db,
            ),
          ),
        );
        expect(error.message).toMatch(/row-level security/);
        const { rows } = await sql<{
          n: number;
        }>`select count(*)::int as n from chatkeep.conversations where title = 'planted'`.execute(
          scratch.database.db,
        );
        expect(rows[0]?.n).toBe(0);
      });

      it('never hands one caller’s scope to the next holder of a pooled connection', async () => {
        // Two connections, forty interleaved calls of two users and of no one.
        const calls = Array.from({ length: 40 }, (_, i) => {
          const scope = i % 3 === 0 ? undefined : i % 3 === 1 ? alice : bob;
          const read =
            scope === undefined ? usersSeen() : runInRowScope({ user: scope }, usersSeen);
          return read.then((seen) => ({ scope, seen }));
        });
        for (const { scope, seen } of await Promise.all(calls))
          expect(seen).toEqual(scope === undefined ? [] : [scope]);
      });
    });

    /**
     * Eight plain clients of the bound role at once on the pooler's two server sessions, five
     * statements each, so every session is looked at: none may hold a chatkeep scope or see a row.
     */
    const expectNoScopeOnServerSessions = async (): Promise<void> => {
      const looks = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const client = new pg.Client({ connectionString: appUrl });
          await client.connect();
          try {
            const seen = [];
            for (let i = 0; i < 5; i++) {
              const { rows } = await client.query<{ pid: number; user_id: string | null; all_users: string | null; n: number }>(
                `select pg_backend_pid() as pid, current_setting('chatkeep.user_id', true) as user_id,
                        current_setting('chatkeep.all_users', true) as all_users, (select count(*)::int from chatkeep.messages) as n`,
              );
              seen.push(rows[0]!);
            }
            return seen;
          } finally {
            await client.end();
          }
        }),
      );
      const seen = looks.flat();
      expect(new Set(seen.map((r) => r.pid)).size, 'both server sessions were looked at').toBe(2);
      for (const row of seen) {
        expect(row.user_id ?? '').toBe('');
        expect(row.all_users ?? 'off').not.toBe('on');
        expect(row.n).toBe(0);
      }
    };

    it.runIf(pooled)(
      'server sessions killed again and again under bound calls: every failure CK_DB_UNAVAILABLE, retries store each turn once, and no scope is left behind',
      { timeout: 120_000 },
      async () => {
        const fired = await openStore(route({ url: appUrl, migrate: false, poolSize: 4 }));
        const users = [newUser('alice'), newUser('bob')];
        const conversations = await Promise.all(users.map((user) => fired.conversations.create(user)));
        const killer = await killRepeatedly(new URL(scratch.url!).pathname.slice(1), 'usename = $2', [role]);
        let kills = 0;
        let failures = 0;
        const retried = <T>(call: () => Promise<T>) => retriedWhileUnavailable(call, () => failures++);
        const TURNS = 12;
        try {
          await Promise.all(
            users.flatMap((user, u) =>
              Array.from({ length: TURNS }, async (_, i) => {
                const id = conversations[u]!.id;
                if (i % 2 === 0) {
                  await retried(() => fired.turns.append(user, id, { user: `q${i}`, assistant: `a${i}`, idempotencyKey: `k${i}` }));
                } else {
                  const turn = await retried(() => fired.turns.begin(user, id, `q${i}`, { idempotencyKey: `k${i}` }));
                  await retried(() => fired.turns.commit(user, turn.id, { content: `a${i}` }));
                }
              }),
            ),
          );
        } finally {
          kills = await killer.stop();
        }
        expect(kills).toBeGreaterThan(0);
        for (const [u, user] of users.entries()) {
          const page = await retried(() => fired.messages.list(user, conversations[u]!.id, { limit: 100 }));
          expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: 2 * TURNS }, (_, k) => k + 1));
          const pairs = new Map<string, string>();
          for (let k = 0; k < page.messages.length; k += 2) pairs.set(page.messages[k]!.content, page.messages[k + 1]!.content);
          expect(pairs).toEqual(new Map(Array.from({ length: TURNS }, (_, i) => [`q${i}`, `a${i}`])));
        }
        await fired.close();
        await expectNoScopeOnServerSessions();
        console.info(`[row-level security] through PgBouncer: ${kills} server sessions killed, ${failures} calls failed and were retried`);
      },
    );

    it.runIf(pooled)(
      'leaves no scope on any of the pooler’s server sessions: a plain client of the same role sees no setting and no row',
      async () => {
        const alice = newUser('alice');
        const bob = newUser('bob');
        // Every way a statement gets its scope: self-scoping hot ones (append, page), Kysely
        // statements alone and in transactions (create, streamed turn), and the system scope.
        await Promise.all(
          [alice, bob].map(async (user) => {
            const c = await app.conversations.create(user);
            for (let i = 0; i < 4; i++)
              await app.turns.append(user, c.id, { user: `q${i}`, assistant: `a${i}` });
            const streamed = await app.turns.begin(user, c.id, 'streamed');
            await app.turns.appendText(user, streamed.id, 'reply');
            await app.turns.commit(user, streamed.id);
            expect((await app.messages.list(user, c.id)).messages).toHaveLength(10);
            expect((await app.conversations.list(user)).conversations).toHaveLength(1);
          }),
        );
        expect(await app.apiKeys.anyIssued()).toBe(false);
        const [all] = await runInRowScope(ALL_USERS, () =>
          raw.hot<{ n: number }>(
            hotStatement('select count(*)::int as n from chatkeep.messages'),
            [],
          ),
        );
        expect(all!.n).toBeGreaterThanOrEqual(20);
        await expectNoScopeOnServerSessions();
      },
    );

    it('an append sets its scope inside its one statement, and leaves none for the next holder of the connection', async () => {
      // One connection, so every call below runs on the session the append used.
      const single = await openDatabase(route({ url: appUrl, poolSize: 1 }));
      const store = await openStore({ database: single, migrate: false });
      try {
        expect(store.rowLevelSecurity).toBe(true);
        const alice = newUser('alice');
        const bob = newUser('bob');
        const c = await store.conversations.create(alice);
        const turn = await store.turns.append(alice, c.id, { user: 'mine', assistant: 'yours' });
        expect(turn.assistantMessage.seq).toBe(2);
        const count = hotStatement('select count(*)::int as n from chatkeep.messages');
        expect(
          await single.hot(count, []),
          'a prepared statement after the append, outside any scope',
        ).toEqual([{ n: 0 }]);
        await store.turns.append(alice, c.id, { user: 'again', assistant: 'ok' });
        const { rows } = await sql<{
          n: number;
        }>`select count(*)::int as n from chatkeep.messages`.execute(single.db);
        expect(rows, 'a Kysely query after the append, outside any scope').toEqual([{ n: 0 }]);
        await store.turns.append(alice, c.id, { user: 'third', assistant: 'ok' });
        expect(
          await runInRowScope({ user: bob }, () => single.hot(count, [])),
          'bob right after alice’s append',
        ).toEqual([{ n: 0 }]);
        expect((await store.messages.list(alice, c.id)).messages).toHaveLength(6);
        // Another user's conversation is still out of reach of the self-scoping statement.
        expect(
          (await caught(() => store.turns.append(bob, c.id, { user: 'x', assistant: 'y' }))).code,
        ).toBe('CK_NOT_FOUND');
      } finally {
        await store.close();
        await single.close();
      }
    });

    it('refuses to open for a role that lacks a privilege (a table added after the grant), naming the table and the command', async () => {
      await sql
        .raw(`revoke insert on chatkeep.rate_limit_windows from ${role}`)
        .execute(scratch.database.db);
      await sql
        .raw(`revoke usage on all sequences in schema chatkeep from ${role}`)
        .execute(scratch.database.db);
      try {
        const refused = await caught(() => openStore(route({ url: appUrl, migrate: false })));
        expect(refused).toMatchObject({ code: 'CK_CONFIG', details: { field: 'role' } });
        expect(refused.message).toContain(`Role "${role}" lacks privileges on chatkeep.`);
        expect(refused.message).toContain('chatkeep.rate_limit_windows');
        expect(refused.message).toContain(`run \`chatkeep migrate grant ${role}\``);
        expect((refused.details as { tables: string[] }).tables).toContain('rate_limit_windows');
      } finally {
        await grantStoreRole(scratch.database.db, { role });
      }
      const again = await openStore(route({ url: appUrl, migrate: false }));
      expect(again.rowLevelSecurity).toBe(true);
      await again.close();
    });

    it('a history page sets its scope inside its one statement, whatever scope the connection had before', async () => {
      // One connection, left in bob's scope (and then in the system scope) before each read of alice's.
      const single = await openDatabase(route({ url: appUrl, poolSize: 1 }));
      const store = await openStore({ database: single, migrate: false });
      try {
        const alice = newUser('alice');
        const bob = newUser('bob');
        const c = await store.conversations.create(alice);
        for (let i = 0; i < 3; i++)
          await store.turns.append(alice, c.id, { user: `q${i}`, assistant: `a${i}` });
        const count = hotStatement('select count(*)::int as n from chatkeep.messages');
        for (const before of [{ user: bob }, ALL_USERS] as const) {
          const [seen] = await runInRowScope(before, () => single.hot<{ n: number }>(count, []));
          expect(
            seen!.n > 0,
            'the scope the connection is left in sees rows only for the system',
          ).toBe(before === ALL_USERS);
          const page = await store.messages.list(alice, c.id, { limit: 4 });
          expect(page.messages.map((m) => m.content)).toEqual(['q1', 'a1', 'q2', 'a2']);
          expect(page.hasOlder).toBe(true);
          await runInRowScope(before, () => single.hot(count, []));
          const older = await store.messages.list(alice, c.id, { before: page.olderCursor! });
          expect(older.messages.map((m) => m.content)).toEqual(['q0', 'a0']);
          await runInRowScope(before, () => single.hot(count, []));
          expect(
            JSON.parse(await store.messages.pageJson(alice, c.id, { limit: 2 })).messages.map(
              (m: { content: string }) => m.content,
            ),
          ).toEqual(['q2', 'a2']);
          // What the page leaves behind is alice's scope alone, and the next reservation resets it.
          const { rows } = await sql<{
            n: number;
          }>`select count(*)::int as n from chatkeep.messages`.execute(single.db);
          expect(rows, 'a Kysely query after the page, outside any scope').toEqual([{ n: 0 }]);
        }
        // Bob, holding alice's conversation id, still gets nothing of it.
        expect((await caught(() => store.messages.list(bob, c.id))).code).toBe('CK_NOT_FOUND');
      } finally {
        await store.close();
        await single.close();
      }
    });

    it('leaves the role unable to change the schema or its history', async () => {
      const drop = await caught(() =>
        runInRowScope(ALL_USERS, () => sql`drop table chatkeep.messages`.execute(raw.db)),
      );
      expect(drop.message).toMatch(/must be owner/);
      const forge = await caught(() => sql`delete from chatkeep.schema_migrations`.execute(raw.db));
      expect(forge.message).toMatch(/permission denied/);
    });

    it('grantStoreRole refuses a missing role, a superuser and a missing schema, naming the field', async () => {
      const missingRole = await caught(() =>
        grantStoreRole(scratch.database.db, { role: 'ck_no_such_role' }),
      );
      expect(missingRole).toMatchObject({ code: 'CK_CONFIG', details: { field: 'role' } });
      const superuser = await caught(() =>
        grantStoreRole(scratch.database.db, { role: 'postgres' }),
      );
      expect(superuser).toMatchObject({ code: 'CK_CONFIG', details: { field: 'role' } });
      expect(superuser.message).toMatch(/superuser/);
      const noSchema = await caught(() =>
        grantStoreRole(scratch.database.db, { role, schema: 'ck_nowhere' }),
      );
      expect(noSchema).toMatchObject({ code: 'CK_CONFIG', details: { field: 'schema' } });
    });

    it('binds with a host users table of integer ids, in the store’s spelling of them', async () => {
      const db = scratch.database.db;
      await sql`create table public.rls_users (id bigint primary key)`.execute(db);
      await sql`insert into public.rls_users values (7), (8)`.execute(db);
      const intOwner = await openStore({
        database: scratch.database,
        schema: 'ck_int',
        users: { table: 'public.rls_users', type: 'bigint' },
      });
      await grantStoreRole(db, { role, schema: 'ck_int' });
      const url = new URL(appUrl);
      const intApp = await openStore(
        route({ url: url.toString(), schema: 'ck_int', migrate: false }),
      );
      try {
        expect(intApp.rowLevelSecurity).toBe(true);
        const c = await intApp.conversations.create('007', { title: 'seven' });
        await intApp.turns.append('7', c.id, { user: 'q', assistant: 'a' });
        expect((await intApp.messages.list('07', c.id)).messages).toHaveLength(2);
        expect((await caught(() => intApp.messages.list('8', c.id))).code).toBe('CK_NOT_FOUND');
      } finally {
        await intApp.close();
        await intOwner.close();
      }
    });
  });
}
