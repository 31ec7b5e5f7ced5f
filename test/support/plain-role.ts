import { sql } from 'kysely';
import { openDatabase } from '../../src/db/index.js';
import { grantStoreRole } from '../../src/index.js';
import { PG_ADMIN_URL, type ScratchDatabase } from './backends.js';

/**
 * Runs `work` with the URL of a fresh login role on a PostgreSQL scratch
 * database: not a superuser, allowed to create schemas there and nothing
 * else. The role and everything it owns are dropped afterwards.
 */
export async function withPlainRole<T>(scratch: ScratchDatabase, prefix: string, work: (url: string) => Promise<T>): Promise<T> {
  const role = `${prefix}_${process.pid}`;
  const admin = scratch.database.db;
  await sql.raw(`create role ${role} login`).execute(admin);
  await sql.raw(`grant create on database "${new URL(scratch.url!).pathname.slice(1)}" to ${role}`).execute(admin);
  const url = new URL(scratch.url!);
  url.username = role;
  try {
    return await work(url.toString());
  } finally {
    await sql.raw(`drop owned by ${role}`).execute(admin);
    await sql.raw(`drop role ${role}`).execute(admin);
  }
}

/**
 * Drops a scratch database and cluster-wide roles made for it: what each
 * role owns there first (grants included), then the database, then the
 * roles, from the admin database.
 */
export async function dropScratchWithRoles(scratch: ScratchDatabase, roles: readonly string[]): Promise<void> {
  for (const role of roles) await sql.raw(`drop owned by ${role}`).execute(scratch.database.db);
  await scratch.drop();
  const admin = await openDatabase({ url: PG_ADMIN_URL });
  try {
    for (const role of roles) await sql.raw(`drop role if exists ${role}`).execute(admin.db);
  } finally {
    await admin.close();
  }
}

/**
 * Creates the login role `role` on a PostgreSQL scratch database, grants it
 * what a store needs (`grantStoreRole`: row-level security binds it), and
 * returns the scratch URL that connects as it. Drop it with
 * {@link dropScratchWithRoles}.
 */
export async function storeRoleUrl(scratch: ScratchDatabase, role: string): Promise<string> {
  await sql.raw(`create role ${role} login`).execute(scratch.database.db);
  await grantStoreRole(scratch.database.db, { role });
  const url = new URL(scratch.url!);
  url.username = role;
  return url.toString();
}
