import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { postgresDumpCopy, rehearse, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, PG_ADMIN_URL, PG_DUMP_SKIP } from '../support/backends.js';
import { migratedPgDatabase, notesMigration, SCHEMA } from './fixtures/rehearsal-databases.js';

/**
 * A rehearsal on a pg_dump copy runs the plan on the target's own server.
 * Roles belong to the server, not to a database: a migration's CREATE ROLE
 * outlives the discarded copy, and the real `up` then fails on it with
 * "already exists". The report must say so instead of only "the target was
 * not changed".
 */
const postgres = BACKENDS[1]!;

async function roleExists(name: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    return (await admin.query('select 1 from pg_roles where rolname = $1', [name])).rowCount === 1;
  } finally {
    await admin.end();
  }
}

async function dropRole(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${name}`);
  } finally {
    await admin.end();
  }
}

describe.skipIf(postgres.skip || PG_DUMP_SKIP)('postgres: a rehearsal that changes the server\'s roles says so', () => {
  it('a plan creating a role: the role outlives the pg_dump copy, and a note names it', async () => {
    const role = `ck_review_${randomBytes(4).toString('hex')}`;
    const migrations: Migration[] = [
      notesMigration,
      { version: 2, name: 'reader-role', up: ({ schema: s }) => [`create role ${role} nologin`, `grant usage on schema ${s} to ${role}`], down: ({ schema: s }) => [`revoke usage on schema ${s} from ${role}`, `drop role ${role}`] },
    ];
    const target = await migratedPgDatabase(migrations);
    try {
      const report = await rehearse({ copy: postgresDumpCopy(target.url), migrator: { schema: SCHEMA, migrations } });
      expect(report.error?.message).toBeUndefined();
      // What the note is about: the copy is gone, the role is not.
      expect(await roleExists(role)).toBe(true);
      expect(report.notes.filter((n) => n.includes(`created ${role}`) && n.includes('already exists'))).toHaveLength(1);
    } finally {
      await dropRole(role);
      await target.drop();
    }
  });

  it('a plan that leaves the roles alone adds no such note', async () => {
    const migrations: Migration[] = [notesMigration, { version: 2, name: 'body', up: ({ schema: s }) => [`alter table ${s}.notes add column body text`], down: ({ schema: s }) => [`alter table ${s}.notes drop column body`] }];
    const target = await migratedPgDatabase(migrations);
    try {
      const report = await rehearse({ copy: postgresDumpCopy(target.url), migrator: { schema: SCHEMA, migrations } });
      expect(report.error?.message).toBeUndefined();
      expect(report.notes.filter((n) => n.includes('roles belong to the server'))).toEqual([]);
    } finally {
      await target.drop();
    }
  });
  it('stopped after a migration that created a role committed: the stop error names the role instead of "the target was not changed"', async () => {
    const role = `ck_review_${randomBytes(4).toString('hex')}`;
    const migrations: Migration[] = [
      notesMigration,
      { version: 2, name: 'reader-role', up: () => [`create role ${role} nologin`], down: () => [`drop role ${role}`] },
      { version: 3, name: 'slow', up: () => ['select pg_sleep(30)'], down: () => ['select 1'] },
    ];
    const target = await migratedPgDatabase(migrations.slice(0, 1));
    const controller = new AbortController();
    try {
      const stopped = await rehearse({
        copy: postgresDumpCopy(target.url),
        migrator: {
          schema: SCHEMA,
          migrations,
          onEvent: (event) => {
            if (event.type === 'migration-start' && event.version === 3) setTimeout(() => controller.abort('SIGINT'), 200);
          },
        },
        signal: controller.signal,
      }).then(
        () => undefined,
        (error: unknown) => error as Error & { code?: string },
      );
      expect(stopped?.code).toBe('CK_SHUTTING_DOWN');
      expect(await roleExists(role)).toBe(true);
      expect(stopped?.message).toContain(`created ${role}`);
      expect(stopped?.message).not.toContain('the target was not changed');
    } finally {
      controller.abort();
      await dropRole(role);
      await target.drop();
    }
  }, 60_000);
});
