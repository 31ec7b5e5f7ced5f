import { sql, type Kysely } from 'kysely';
import { ChatkeepError, sqlState, wrapDriverError } from '../errors/index.js';
import { assertIdentifier } from '../migrate/identifier.js';

/** Tables the store only reads: its install record and the migration bookkeeping. */
const READ_ONLY_TABLES = ['install', 'schema_migrations', 'schema_migrations_log'] as const;

/**
 * Gives an existing PostgreSQL role exactly what a chatkeep store needs on
 * chatkeep's schema, and nothing to change the schema itself: USAGE on the
 * schema; SELECT, INSERT, UPDATE, DELETE on its data tables; SELECT on the
 * install record and migration history; USAGE on its sequences. A store
 * connecting as that role (and not owning the tables, nor a superuser) is
 * bound by the row-level security policies of migration 0007, and
 * `Store.rowLevelSecurity` is true (docs/security.md). Run it as the owner
 * of chatkeep's schema after `migrate up`; idempotent. A later `migrate up`
 * that adds tables extends these grants to them itself
 * ({@link extendStoreRoles}). The store's role cannot migrate: run
 * migrations as the owner and open the store with `migrate: false`.
 *
 * @example
 * await grantStoreRole(database.db, { role: 'chat_app' });
 */
export async function grantStoreRole(db: Kysely<any>, options: { readonly role: string; readonly schema?: string }): Promise<void> {
  const role = assertIdentifier('role', options.role);
  const schema = assertIdentifier('schema', options.schema ?? 'chatkeep');
  // pg_read_all_data, pg_monitor…: granting to one gives every member of it,
  // roles of other applications and monitoring tools, read and write on
  // every user's chat data. The names are reserved to PostgreSQL.
  if (role.startsWith('pg_')) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `Role "${role}" is one of PostgreSQL's predefined roles: every role that is a member of it would get the store's privileges; create a role for the application (create role chat_app login password '…')`,
      { field: 'role' },
    );
  }
  try {
    await db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ role: boolean; schema: boolean; superuser: boolean | null; owner: boolean | null; user: string }>`
        select exists (select from pg_catalog.pg_roles where rolname = ${role}) as role,
               exists (select from pg_catalog.pg_namespace where nspname = ${schema}) as schema,
               (select rolsuper or rolbypassrls from pg_catalog.pg_roles where rolname = ${role}) as superuser,
               (select pg_has_role(nspowner, 'USAGE') from pg_catalog.pg_namespace where nspname = ${schema})
                 or (select rolsuper from pg_catalog.pg_roles where rolname = current_user) as owner,
               current_user as user`.execute(trx);
      const found = rows[0];
      if (found?.role !== true) throw new ChatkeepError('CK_CONFIG', `Role "${role}" does not exist: create it first (create role ${role} login password '…')`, { field: 'role' });
      if (found.schema !== true) throw new ChatkeepError('CK_CONFIG', `Schema "${schema}" does not exist: run \`chatkeep migrate up\` first`, { field: 'schema' });
      // A user that holds privileges on the schema without owning it (the
      // store's own role, say) is not refused by PostgreSQL: each GRANT only
      // warns "no privileges were granted", and this used to return as if done.
      if (found.owner !== true) {
        throw new ChatkeepError(
          'CK_CONFIG',
          `The current user "${found.user}" does not own chatkeep's schema "${schema}", so it cannot grant on it (PostgreSQL would grant nothing and only warn): run this as the schema's owner, the user that ran the migrations`,
          { user: found.user },
        );
      }
      if (found.superuser === true) {
        throw new ChatkeepError('CK_CONFIG', `Role "${role}" is a superuser or has BYPASSRLS: no row-level security policy binds it; use a plain role`, { field: 'role' });
      }
      // Concurrent GRANTs on one object fail with XX000 "tuple concurrently
      // updated" (measured: 69 of 80 calls, 8 at a time); several servers
      // granting at deploy, or an upgrade's extendStoreRoles next to a
      // `migrate grant`, would do that. Grants on one schema take turns.
      await sql`select pg_advisory_xact_lock(hashtextextended(${`chatkeep grants ${schema}`}, 0))`.execute(trx);
      await sql.raw(`grant usage on schema ${schema} to ${role}`).execute(trx);
      await sql.raw(`grant select, insert, update, delete on all tables in schema ${schema} to ${role}`).execute(trx);
      await sql.raw(`revoke insert, update, delete on ${READ_ONLY_TABLES.map((t) => `${schema}.${t}`).join(', ')} from ${role}`).execute(trx);
      await sql.raw(`grant usage on all sequences in schema ${schema} to ${role}`).execute(trx);
    });
  } catch (error) {
    if (error instanceof ChatkeepError) throw error;
    if (sqlState(error) === '42501') {
      throw new ChatkeepError('CK_CONFIG', `The current user may not grant on schema "${schema}": run this as the owner of chatkeep's schema`, { field: 'role', sqlState: '42501' }, { cause: error });
    }
    throw wrapDriverError(error);
  }
}

/**
 * Grants what {@link grantStoreRole} gives, on every table and sequence of
 * `schema` as it is now, to each role that already holds the store's
 * privileges on its messages table — SELECT, INSERT, UPDATE and DELETE,
 * granted to the role itself (not through a role it belongs to) — and is
 * not the owner, a superuser or BYPASSRLS. That is how `grantStoreRole`
 * left them, and no other role of chatkeep's has them (the MCP tools' role
 * has no grant in this schema; a read-only role has SELECT alone). Run after
 * an `up` that applied migrations, so a table a new chatkeep adds reaches
 * the roles that serve from it instead of a refusal at their next start.
 * Returns the roles granted; none when the current user does not own the
 * schema (the store's role then refuses to open, naming `migrate grant`).
 */
export async function extendStoreRoles(db: Kysely<any>, schema: string): Promise<string[]> {
  // A user with some privileges but no grant option would get warnings, not
  // errors ("no privileges were granted"): ask first whether it owns the schema.
  const { rows: owner } = await sql<{ owns: boolean }>`
    select pg_has_role(n.nspowner, 'USAGE') or (select rolsuper from pg_catalog.pg_roles where rolname = current_user) as owns
      from pg_catalog.pg_namespace n where n.nspname = ${schema}`.execute(db);
  if (owner[0]?.owns !== true) return [];
  const { rows } = await sql<{ role: string }>`
    select r.rolname as role
      from pg_catalog.pg_class c
     cross join lateral aclexplode(c.relacl) g
      join pg_catalog.pg_roles r on r.oid = g.grantee
     where c.oid = to_regclass(format('%I.messages', ${schema}::text))
       and g.grantee <> c.relowner and not r.rolsuper and not r.rolbypassrls
     group by r.rolname
    having array_agg(g.privilege_type::text) @> array['SELECT', 'INSERT', 'UPDATE', 'DELETE']
     order by r.rolname`.execute(db);
  const granted: string[] = [];
  for (const { role } of rows) {
    try {
      await grantStoreRole(db, { role, schema });
      granted.push(role);
    } catch (error) {
      // Not the owner (42501, as CK_CONFIG), or a name grantStoreRole would not
      // have granted: leave that role to `migrate grant`, which says why.
      if (!(error instanceof ChatkeepError && error.code === 'CK_CONFIG')) throw error;
    }
  }
  return granted;
}

/**
 * Refuses a store whose role lacks a privilege `grantStoreRole` gives, naming
 * the tables: the usual cause is a `migrate up` that added a table after the
 * role was granted. Without this the store would open and fail later, on the
 * first call that reaches the new table, with a bare "permission denied".
 */
export async function assertStorePrivileges(db: Kysely<any>, schema: string): Promise<void> {
  const { rows } = await sql<{ role: string; missing: string[] }>`
    select current_user as role, coalesce(array_agg(c.relname::text order by c.relname) filter (where not (
             case when c.relkind = 'S' then has_sequence_privilege(c.oid, 'usage')
                  when c.relname = any(${[...READ_ONLY_TABLES]}::text[]) then has_table_privilege(c.oid, 'select')
                  -- Each privilege on its own: a list is true when any one of them is held.
                  else has_table_privilege(c.oid, 'select') and has_table_privilege(c.oid, 'insert')
                   and has_table_privilege(c.oid, 'update') and has_table_privilege(c.oid, 'delete') end)), '{}'::text[]) as missing
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ${schema} and c.relkind in ('r', 'p', 'S')`.execute(db);
  const found = rows[0];
  if (found === undefined || found.missing.length === 0) return;
  throw new ChatkeepError(
    'CK_CONFIG',
    `Role "${found.role}" lacks privileges on ${found.missing.map((t) => `${schema}.${t}`).join(', ')}: run \`chatkeep migrate grant ${found.role}\` as the owner of chatkeep's schema`,
    { field: 'role', tables: found.missing },
  );
}
