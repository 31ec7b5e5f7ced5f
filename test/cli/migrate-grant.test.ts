import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { openStore } from '../../src/index.js';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';
import { assertBuilt, chatkeep } from './cli-process.js';
import { bannerAndAfter, call, killLeftoverServers, serve } from './serve-process.js';

beforeAll(assertBuilt);

/** `chatkeep migrate grant <role>` as an operator runs it: the built CLI against a real server. */
describe.skipIf(!PG_AVAILABLE)('chatkeep migrate grant (PostgreSQL)', () => {
  const role = `ck_grant_cli_${process.pid}`;
  let created: Awaited<ReturnType<typeof createPgDatabase>>;

  beforeAll(async () => {
    created = await createPgDatabase();
    const admin = await openDatabase({ url: created.url });
    await sql.raw(`create role ${role} login`).execute(admin.db);
    await admin.close();
  });

  afterAll(async () => {
    killLeftoverServers();
    const inDb = await openDatabase({ url: created.url });
    await sql.raw(`drop owned by ${role}`).execute(inDb.db);
    await inDb.close();
    await created.drop();
    const admin = await openDatabase({ url: PG_ADMIN_URL });
    await sql.raw(`drop role if exists ${role}`).execute(admin.db);
    await admin.close();
  });

  it('refuses while migrations are pending, then grants; the role then works as a store bound by row-level security', async () => {
    const early = await chatkeep(['--database-url', created.url, 'migrate', 'grant', role]);
    expect([early.code, early.stderr]).toEqual([1, expect.stringContaining('error [CK_SCHEMA_NOT_READY]')]);
    expect((await chatkeep(['--database-url', created.url, 'migrate', 'up'])).code).toBe(0);
    const granted = await chatkeep(['--database-url', created.url, 'migrate', 'grant', role]);
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toContain(`Granted role "${role}"`);
    const again = await chatkeep(['--database-url', created.url, 'migrate', 'grant', role]);
    expect(again.code, 'idempotent').toBe(0);

    const url = new URL(created.url);
    url.username = role;
    const key = await chatkeep(['--database-url', url.toString(), 'keys', 'create', '--user', 'alice', '--json']);
    expect(key.code, key.stderr).toBe(0);
    const store = await openStore({ url: url.toString() });
    try {
      expect(store.rowLevelSecurity).toBe(true);
      expect(await store.apiKeys.authenticate((JSON.parse(key.stdout) as { secret: string }).secret)).toBe('alice');
    } finally {
      await store.close();
    }
  });

  it('`chatkeep serve` as the granted role says row-level security is on and serves its users; as the owner it says off', async () => {
    const url = new URL(created.url);
    url.username = role;
    const key = await chatkeep(['--database-url', url.toString(), 'keys', 'create', '--user', 'bob', '--json']);
    const { secret } = JSON.parse(key.stdout) as { secret: string };
    for (const [location, line] of [
      [url.toString(), '  row-level security: on (this role is bound by the policies: a query sees one user\'s rows)'],
      [created.url, '  row-level security: off for this connection (it owns the tables or is a superuser; see `chatkeep migrate grant --help`)'],
    ] as const) {
      const server = await serve(['--database-url', location]);
      try {
        expect(bannerAndAfter(server.stdout()).banner).toContain(line);
        const conversation = await call(server.url, 'POST', '/v1/conversations', secret, { title: 'from serve' });
        expect(conversation.status).toBe(201);
        const listed = await call(server.url, 'GET', '/v1/conversations', secret);
        expect(listed.body.conversations.map((c: { id: string }) => c.id)).toContain(conversation.body.id);
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    }
  });

  it('`migrate up` that adds tables grants them to the roles `migrate grant` set up, and says so (text and JSON)', async () => {
    const url = new URL(created.url);
    url.username = role;
    for (const json of [false, true]) {
      expect((await chatkeep(['--database-url', created.url, 'migrate', 'down', '--to', '7', '--yes'])).code).toBe(0);
      const up = await chatkeep(['--database-url', created.url, 'migrate', 'up', ...(json ? ['--json'] : [])]);
      expect(up.code, up.stderr).toBe(0);
      if (json) expect((JSON.parse(up.stdout) as { grantedRoles: string[] }).grantedRoles).toEqual([role]);
      else expect(up.stdout).toContain(`Granted the store's privileges on the new tables to "${role}"`);
      const store = await openStore({ url: url.toString(), migrate: false });
      expect(store.rowLevelSecurity).toBe(true);
      await store.close();
    }
    const nothing = await chatkeep(['--database-url', created.url, 'migrate', 'up', '--json']);
    expect((JSON.parse(nothing.stdout) as { grantedRoles: string[] }).grantedRoles, 'nothing applied, nothing granted').toEqual([]);
  });

  // PostgreSQL only warns ("no privileges were granted") when a user that holds a privilege without
  // the grant option grants it on: run as the store's own role, `migrate grant` once said "Granted" and exited 0.
  it('run as a user that does not own the schema, it refuses (exit 2) instead of reporting a grant that did not happen', async () => {
    const other = `${role}_other`;
    const admin = await openDatabase({ url: created.url });
    try {
      await sql.raw(`create role ${other} login`).execute(admin.db);
      const url = new URL(created.url);
      url.username = role; // granted above: USAGE on the schema, without grant option
      const run = await chatkeep(['--database-url', url.toString(), 'migrate', 'grant', other]);
      expect([run.code, run.stdout]).toEqual([2, '']);
      expect(run.stderr).toContain(`error [CK_CONFIG]: The current user "${role}" does not own chatkeep's schema "chatkeep"`);
      const { rows } = await sql<{ usage: boolean }>`select has_schema_privilege(${other}, 'chatkeep', 'USAGE') as usage`.execute(admin.db);
      expect(rows[0]?.usage).toBe(false);
    } finally {
      await sql.raw(`drop owned by ${other}`).execute(admin.db);
      await sql.raw(`drop role if exists ${other}`).execute(admin.db);
      await admin.close();
    }
  });

  it('a missing role is a usage error naming it', async () => {
    const run = await chatkeep(['--database-url', created.url, 'migrate', 'grant', 'ck_nobody_here']);
    expect([run.code, run.stderr]).toEqual([2, expect.stringContaining('error [CK_CONFIG]: Role "ck_nobody_here" does not exist')]);
  });

  // pg_read_all_data exists, is no superuser and has no BYPASSRLS: it passed every check, and its members got write access to the chat tables.
  it("a predefined role (pg_read_all_data) is refused, and nothing is granted to it", async () => {
    const run = await chatkeep(['--database-url', created.url, 'migrate', 'grant', 'pg_read_all_data']);
    expect([run.code, run.stderr]).toEqual([2, expect.stringContaining(`error [CK_CONFIG]: Role "pg_read_all_data" is one of PostgreSQL's predefined roles`)]);
    const admin = await openDatabase({ url: created.url });
    try {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from information_schema.role_table_grants
         where grantee = 'pg_read_all_data' and table_schema = 'chatkeep'`.execute(admin.db);
      expect(rows[0]?.n).toBe(0);
    } finally {
      await admin.close();
    }
  });
});

describe('chatkeep migrate grant (PGlite)', () => {
  it('is refused on the embedded database, which no policy can bind (exit 2), creating no data folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chatkeep-grant-'));
    try {
      const run = await chatkeep(['--data-dir', join(dir, 'data'), 'migrate', 'grant', 'chat_app']);
      expect([run.code, run.stderr]).toEqual([2, expect.stringContaining('error [CK_CONFIG]: migrate grant is for PostgreSQL')]);
      expect(existsSync(join(dir, 'data'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
