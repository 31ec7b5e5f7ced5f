import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';
import { assertBuilt, chatkeep } from './cli-process.js';

/**
 * What each command promises scripts about its options and exit codes, held
 * against the built CLI. Refusals that need no database are checked to
 * happen before one is opened: no output on stdout, no data folder created.
 */
describe('chatkeep command contracts: refused before anything is opened (exit 2)', () => {
  let dir = '';
  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'chatkeep-contracts-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const tokens = { CHATKEEP_MCP_TOKENS: 'alice=a-good-token-0123456789' };

  it.each([
    {
      what: 'mcp: a bad CHATKEEP_MCP_RATE_LIMIT, read from the environment like --rate-limit',
      args: ['mcp', '--transport', 'http', '--port', '0'],
      env: { ...tokens, CHATKEEP_MCP_RATE_LIMIT: 'plenty' },
      stderr: /--rate-limit: expected a whole number from 0 to 1000000/,
    },
    {
      what: 'mcp: a fractional CHATKEEP_MCP_RATE_LIMIT',
      args: ['mcp', '--transport', 'http', '--port', '0'],
      env: { ...tokens, CHATKEEP_MCP_RATE_LIMIT: '1.5' },
      stderr: /--rate-limit: expected a whole number/,
    },
    {
      what: 'mcp over stdio for a blank --user: nobody to act for',
      args: ['mcp', '--user', '   '],
      env: {},
      stderr: /--user <id> is required with --transport stdio/,
    },
    // Node.js listens on every interface for an empty address: a server meant for loopback
    // once served the network (and the MCP server dropped its loopback Host check).
    {
      what: 'serve --host "": an empty address would listen on every interface',
      args: ['serve', '--host', '', '--port', '0'],
      env: {},
      stderr: /--host \(or CHATKEEP_HOST\): empty; an empty address would listen on every network interface/,
    },
    {
      what: 'serve with an exported but empty CHATKEEP_HOST',
      args: ['serve', '--port', '0'],
      env: { CHATKEEP_HOST: '' },
      stderr: /value '' from env 'CHATKEEP_HOST' is invalid\. --host \(or CHATKEEP_HOST\): empty/,
    },
    {
      what: 'mcp --transport http --host "": likewise',
      args: ['mcp', '--transport', 'http', '--host', '', '--port', '0'],
      env: tokens,
      stderr: /--host: empty; an empty address would listen on every network interface/,
    },
    {
      what: 'migrate plan --sample-interval 0: the lock monitor would never sleep',
      args: ['migrate', 'plan', '--rehearse', '--sample-interval', '0'],
      env: {},
      stderr: /--sample-interval: expected a whole number from 1 to 60000/,
    },
    {
      what: 'migrate down --to -1',
      args: ['migrate', 'down', '--to', '-1', '--yes'],
      env: {},
      stderr: /expected a migration version/,
    },
    {
      what: 'migrate up --lock-wait 5s: milliseconds, no unit',
      args: ['migrate', 'up', '--lock-wait', '5s'],
      env: {},
      stderr: /expected milliseconds/,
    },
    {
      what: 'migrate up --allow-lint-errors with an empty list',
      args: ['migrate', 'up', '--allow-lint-errors', ','],
      env: {},
      stderr: /--allow-lint-errors: expected comma-separated lint rule ids/,
    },
  ])('$what', async ({ args, env, stderr }) => {
    const data = join(dir, `data-${args.join('-').replace(/[^a-z0-9-]/gi, '_')}`);
    const run = await chatkeep(['--data-dir', data, ...args], env);
    expect({ code: run.code, stdout: run.stdout }, run.stderr).toEqual({ code: 2, stdout: '' });
    expect(run.stderr).toMatch(stderr);
    expect(existsSync(data), 'no data folder is created').toBe(false);
  });
});

/** Exit 2 means "you typed it wrong" also when the store, not commander, finds the fault. */
describe('chatkeep command contracts: a malformed key id is a usage error (exit 2)', () => {
  let dir = '';
  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'chatkeep-contracts-store-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // The id is checked before anything opens: a new data folder is not installed for a typo.
  it('keys revoke with a key id that is not one (CK_VALIDATION) is a usage error (exit 2), found before the database is opened', async () => {
    const run = await chatkeep(['--data-dir', join(dir, 'data'), 'keys', 'revoke', '--user', 'alice', 'not-a-key-id']);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(run.stderr).toMatch(/^error \[CK_VALIDATION\]: <key-id>: expected a UUID/m);
    expect(existsSync(join(dir, 'data')), 'no data folder was made').toBe(false);
  });
});

/**
 * `chatkeep migrate grant <role>` gives a store role what it needs and no
 * more: it may read, not rewrite, the install record and migration history,
 * and a role no row-level security policy binds is refused.
 */
describe.skipIf(!PG_AVAILABLE)('chatkeep migrate grant: exactly the store’s privileges (PostgreSQL)', () => {
  const plain = `ck_contract_app_${process.pid}`;
  const bypass = `ck_contract_bypass_${process.pid}`;
  let created: Awaited<ReturnType<typeof createPgDatabase>>;

  beforeAll(async () => {
    assertBuilt();
    created = await createPgDatabase();
    const admin = await openDatabase({ url: created.url });
    try {
      await sql.raw(`create role ${plain} login`).execute(admin.db);
      await sql.raw(`create role ${bypass} login bypassrls`).execute(admin.db);
    } finally {
      await admin.close();
    }
    const up = await chatkeep(['--database-url', created.url, 'migrate', 'up']);
    expect(up.code, up.stderr).toBe(0);
  });

  afterAll(async () => {
    const inDb = await openDatabase({ url: created.url });
    try {
      for (const role of [plain, bypass]) await sql.raw(`drop owned by ${role}`).execute(inDb.db);
    } finally {
      await inDb.close();
    }
    await created.drop();
    const admin = await openDatabase({ url: PG_ADMIN_URL });
    try {
      for (const role of [plain, bypass]) await sql.raw(`drop role if exists ${role}`).execute(admin.db);
    } finally {
      await admin.close();
    }
  });

  it('the granted role may read but not write the install record and the migration history; it may write the data tables', async () => {
    const run = await chatkeep(['--database-url', created.url, 'migrate', 'grant', plain]);
    expect(run.code, run.stderr).toBe(0);
    const database = await openDatabase({ url: created.url });
    try {
      const { rows } = await sql<{ table: string; privilege: string; held: boolean }>`
        select t as table, p as privilege, has_table_privilege(${plain}, format('chatkeep.%I', t), p) as held
          from unnest(array['install', 'schema_migrations', 'schema_migrations_log', 'messages', 'conversations']) t,
               unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
         order by 1, 2`.execute(database.db);
      const held = rows.filter((r) => r.held).map((r) => `${r.table} ${r.privilege}`);
      expect(held).toEqual([
        'conversations DELETE',
        'conversations INSERT',
        'conversations SELECT',
        'conversations UPDATE',
        'install SELECT',
        'messages DELETE',
        'messages INSERT',
        'messages SELECT',
        'messages UPDATE',
        'schema_migrations SELECT',
        'schema_migrations_log SELECT',
      ]);
    } finally {
      await database.close();
    }
  });

  it('a role with BYPASSRLS is refused (exit 2) and gets no grant', async () => {
    const run = await chatkeep(['--database-url', created.url, 'migrate', 'grant', bypass]);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(run.stderr).toMatch(/^error \[CK_CONFIG\]: Role "ck_contract_bypass_\d+" is a superuser or has BYPASSRLS/m);
    const database = await openDatabase({ url: created.url });
    try {
      const { rows } = await sql<{ usage: boolean }>`select has_schema_privilege(${bypass}, 'chatkeep', 'USAGE') as usage`.execute(database.db);
      expect(rows[0]?.usage).toBe(false);
    } finally {
      await database.close();
    }
  });
});
