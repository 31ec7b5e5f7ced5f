import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { chatkeepMigrator, extendStoreRoles, resolveSchemaSettings } from '../../src/schema/index.js';
import { grantStoreRole, openStore } from '../../src/index.js';
import { PG_AVAILABLE, PG_ADMIN_URL, scratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { caught, newUser } from '../support/store-fixture.js';

/**
 * A chatkeep upgrade whose migrations add a table (0008 added
 * rate_limit_windows) must not lock out the role servers connect as: the
 * owner's `up` extends the grants of the roles `grantStoreRole` set up to
 * the new tables, and only those (docs/security.md).
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING store-role grant cases: they need PostgreSQL (none answers at ${PG_ADMIN_URL})`);

describe.skipIf(!PG_AVAILABLE)('postgres: an up that adds tables extends the store roles to them', () => {
  const app = `ck_grant_app_${process.pid}`;
  const reader = `ck_grant_reader_${process.pid}`;
  const other = `ck_grant_other_${process.pid}`;
  let scratch: ScratchDatabase;

  const appUrl = () => {
    const url = new URL(scratch.url!);
    url.username = app;
    return url.toString();
  };
  const may = async (role: string, table: string, privilege: string) => {
    const { rows } = await sql<{ ok: boolean }>`select has_table_privilege(${role}, ${`chatkeep.${table}`}, ${privilege}) as ok`.execute(scratch.database.db);
    return rows[0]!.ok;
  };
  const migrator = () => chatkeepMigrator(scratch.database.db, { schema: 'chatkeep', settings: resolveSchemaSettings({}) });

  beforeAll(async () => {
    scratch = await scratchDatabase('postgres');
    const db = scratch.database.db;
    expect((await migrator().up({ to: 7 })).error).toBeUndefined();
    for (const role of [app, reader, other]) await sql.raw(`create role ${role} login`).execute(db);
    await grantStoreRole(db, { role: app });
    // A read-only role (analytics, say) and a role with nothing in chatkeep's schema (like the MCP tools' role).
    await sql.raw(`grant usage on schema chatkeep to ${reader}`).execute(db);
    await sql.raw(`grant select on chatkeep.messages to ${reader}`).execute(db);
  });

  afterAll(async () => {
    if (scratch === undefined) return;
    for (const role of [app, reader, other]) await sql.raw(`drop owned by ${role}`).execute(scratch.database.db);
    await scratch.drop();
    const admin = await openDatabase({ url: PG_ADMIN_URL });
    for (const role of [app, reader, other]) await sql.raw(`drop role if exists ${role}`).execute(admin.db);
    await admin.close();
  });

  it('without the extension, a table added after the grant locks the store role out (the control)', async () => {
    expect((await migrator().up()).error).toBeUndefined();
    expect(await may(app, 'rate_limit_windows', 'insert')).toBe(false);
    const refused = await caught(() => openStore({ url: appUrl(), migrate: false }));
    expect(refused).toMatchObject({ code: 'CK_CONFIG', details: { tables: ['rate_limit_windows'] } });
  });

  it('extendStoreRoles grants the new table to the store role alone, and the role serves again', async () => {
    expect(await extendStoreRoles(scratch.database.db, 'chatkeep')).toEqual([app]);
    for (const privilege of ['select', 'insert', 'update', 'delete']) expect(await may(app, 'rate_limit_windows', privilege)).toBe(true);
    expect(await may(app, 'schema_migrations', 'insert'), 'read-only tables stay read-only').toBe(false);
    for (const role of [reader, other]) expect(await may(role, 'rate_limit_windows', 'select')).toBe(false);
    expect(await may(reader, 'conversations', 'select'), 'the read-only role gains nothing').toBe(false);
    const store = await openStore({ url: appUrl(), migrate: false });
    try {
      expect(store.rowLevelSecurity).toBe(true);
      expect((await store.rateLimits.hit(`user:${newUser()}`, 60_000)).current).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('openStore, migrating as the owner, extends the grants itself', async () => {
    expect((await migrator().down({ to: 7 })).error).toBeUndefined();
    await grantStoreRole(scratch.database.db, { role: app });
    const owner = await openStore({ database: scratch.database });
    await owner.close();
    expect(await may(app, 'rate_limit_windows', 'insert')).toBe(true);
    expect(await may(reader, 'rate_limit_windows', 'select')).toBe(false);
    const store = await openStore({ url: appUrl(), migrate: false });
    expect(store.rowLevelSecurity).toBe(true);
    await store.close();
  });

  it('concurrent grants of the same role all succeed (PostgreSQL refuses concurrent GRANTs on one object unless they take turns)', async () => {
    const connections = await Promise.all(Array.from({ length: 8 }, () => openDatabase({ url: scratch.url!, poolSize: 1 })));
    try {
      for (let round = 0; round < 5; round++) {
        const outcomes = await Promise.allSettled([
          ...connections.slice(1).map((c) => grantStoreRole(c.db, { role: app })),
          extendStoreRoles(connections[0]!.db, 'chatkeep'),
        ]);
        expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
      }
    } finally {
      await Promise.all(connections.map((c) => c.close()));
    }
    expect(await may(app, 'rate_limit_windows', 'insert')).toBe(true);
  });

  it('grants nothing when the current user does not own the schema, and says so by returning no role', async () => {
    await sql.raw(`revoke insert on chatkeep.rate_limit_windows from ${app}`).execute(scratch.database.db);
    for (const role of [other, reader]) {
      const url = new URL(scratch.url!);
      url.username = role;
      const outsider = await openDatabase({ url: url.toString() });
      try {
        expect(await extendStoreRoles(outsider.db, 'chatkeep')).toEqual([]);
      } finally {
        await outsider.close();
      }
    }
    expect(await may(app, 'rate_limit_windows', 'insert')).toBe(false);
    await grantStoreRole(scratch.database.db, { role: app });
  });

  // PostgreSQL only warns ("no privileges were granted") when a user holding a privilege without the
  // grant option grants it on: grantStoreRole, run as the store's own role, once returned as if done.
  it('grantStoreRole run as a user that does not own the schema refuses with CK_CONFIG and grants nothing', async () => {
    const asApp = await openDatabase({ url: appUrl() });
    try {
      const refused = await caught(() => grantStoreRole(asApp.db, { role: other }));
      expect([refused.code, refused.details?.['user']]).toEqual(['CK_CONFIG', app]);
      expect(refused.message).toContain(`does not own chatkeep's schema "chatkeep"`);
    } finally {
      await asApp.close();
    }
    const { rows } = await sql<{ usage: boolean }>`select has_schema_privilege(${other}, 'chatkeep', 'USAGE') as usage`.execute(scratch.database.db);
    expect(rows[0]!.usage).toBe(false);
    expect(await may(other, 'messages', 'select')).toBe(false);
  });
});
