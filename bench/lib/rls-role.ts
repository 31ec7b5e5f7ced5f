import { randomBytes } from 'node:crypto';
import { grantStoreRole, openDatabase } from 'chatkeep';
import pg from 'pg';

/**
 * The plain PostgreSQL role the "chatkeep, RLS role" target connects as: it
 * neither owns chatkeep's tables nor is a superuser, so migration 0007's
 * row-level security policies bind it (SPEC R-SEC-1's defence in depth).
 * Roles are cluster-wide, unlike the bench's database: the role is created
 * if missing (a run that died before {@link dropRlsRole} leaves it behind,
 * and its grants went with the database it dropped) and dropped at the end.
 */
export const RLS_ROLE = 'ck_bench_app';

/** SQLSTATE duplicate_object: another session created the role between our check and our CREATE. */
const DUPLICATE_OBJECT = '42710';

/**
 * Creates (or reuses) `role` with LOGIN and a fresh password, then grants it
 * what a store needs on chatkeep's schema in the bench database, as that
 * schema's owner (`grantStoreRole`). Returns the bench database's URL with the
 * role as user. The password matters only on a server that does not trust
 * local connections.
 */
export async function prepareRlsRole(
  adminUrl: string,
  benchUrl: string,
  role = RLS_ROLE,
): Promise<string> {
  const password = randomBytes(18).toString('hex');
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query('select 1 from pg_catalog.pg_roles where rolname = $1', [
      role,
    ]);
    if (rows.length === 0) {
      try {
        await admin.query(`create role ${role} login`);
      } catch (error) {
        if ((error as { code?: string }).code !== DUPLICATE_OBJECT) throw error;
      }
    }
    await admin.query(`alter role ${role} login password '${password}'`);
  } finally {
    await admin.end();
  }
  // chatkeep's own Database, so grantStoreRole gets the Kysely it was built against.
  const owner = await openDatabase({ url: benchUrl, poolSize: 1 });
  try {
    await grantStoreRole(owner.db, { role });
  } finally {
    await owner.close();
  }
  const url = new URL(benchUrl);
  url.username = role;
  url.password = password;
  return url.toString();
}

/**
 * Revokes everything granted to `role` in the bench database (`drop owned
 * by`, which also drops objects it owns: none), then drops the role. A role
 * still holding grants in another database (a run that died with a different
 * BENCH_PG_DATABASE) cannot be dropped: that is reported, not fatal, since
 * {@link prepareRlsRole} reuses the role.
 */
export async function dropRlsRole(
  adminUrl: string,
  benchUrl: string,
  log: (message: string) => void,
  role = RLS_ROLE,
): Promise<void> {
  const bench = new pg.Client({ connectionString: benchUrl });
  await bench.connect();
  try {
    await bench.query(`drop owned by ${role}`);
  } finally {
    await bench.end();
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${role}`);
  } catch (error) {
    log(
      `warning: could not drop role ${role} (${(error as Error).message}); the next run reuses it`,
    );
  } finally {
    await admin.end();
  }
}
