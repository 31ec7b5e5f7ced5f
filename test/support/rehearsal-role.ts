import { sql } from 'kysely';
import { openDatabase, type Database } from '../../src/db/index.js';
import { createPgDatabase, PG_ADMIN_URL } from './backends.js';

/** What a role leaves on the test server: the databases it owns and the sessions it has open (by application name). */
export interface LeftBehind {
  readonly databases: string[];
  readonly sessions: string[];
}

/** Polls `condition` every 20 ms for up to `ms`; resolves with whether it came to hold. */
export async function until(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

/**
 * A fresh source database and a login role of its own that may create
 * databases, for rehearsals that copy with pg_dump: the `ck_rehearse_…`
 * copies a rehearsal run as that role makes are the databases the role owns,
 * so they can be told from any other run's, checked for, and dropped.
 */
export interface RehearsalRole {
  readonly role: string;
  readonly source: Awaited<ReturnType<typeof createPgDatabase>>;
  /** The source database's URL, connecting as the role. */
  readonly url: string;
  /** An admin connection to the server's maintenance database. */
  readonly admin: Database;
  /** What the role has left on the server right now. */
  leftBehind(): Promise<LeftBehind>;
  /** Drops every database the role owns (its copies), the source and the role, and closes the admin connection. */
  remove(): Promise<void>;
}

/**
 * Creates the role and its source database. `createSchemas` also grants it
 * CREATE on the source, for tests that migrate the source as the role (a
 * migration creates its schema).
 */
export async function rehearsalRole(role: string, options: { readonly createSchemas?: boolean } = {}): Promise<RehearsalRole> {
  const source = await createPgDatabase();
  const admin = await openDatabase({ url: PG_ADMIN_URL });
  await sql.raw(`create role ${role} login createdb`).execute(admin.db);
  if (options.createSchemas === true) await sql.raw(`grant create on database ${source.name} to ${role}`).execute(admin.db);
  const url = new URL(source.url);
  url.username = role;
  const leftBehind = async (): Promise<LeftBehind> => {
    const { rows: databases } = await sql<{ datname: string }>`
      select datname from pg_database where datdba = (select oid from pg_roles where rolname = ${role})`.execute(admin.db);
    const { rows: sessions } = await sql<{ name: string }>`
      select coalesce(application_name, '') as name from pg_stat_activity where usename = ${role}`.execute(admin.db);
    return { databases: databases.map((d) => d.datname), sessions: sessions.map((s) => s.name) };
  };
  return {
    role,
    source,
    url: url.toString(),
    admin,
    leftBehind,
    async remove() {
      for (const datname of (await leftBehind()).databases) await sql.raw(`drop database if exists "${datname}" with (force)`).execute(admin.db);
      await source.drop();
      await sql.raw(`drop role if exists ${role}`).execute(admin.db);
      await admin.close();
    },
  };
}
