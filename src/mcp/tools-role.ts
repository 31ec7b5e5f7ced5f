import { sql, type Kysely } from 'kysely';
import { ChatkeepError, sqlState } from '../errors/index.js';
import { assertIdentifier } from '../migrate/identifier.js';
import { resolveTaskToolsConfig, type TaskToolsConfig } from './task-tools-config.js';
import { wrapTaskError } from './task-errors.js';

/** How the task tools' role is set up and checked. */
export interface ToolsRoleOptions extends TaskToolsConfig {
  /** chatkeep's schema, on which the role must have nothing at all (default `chatkeep`). */
  readonly chatkeepSchema?: string;
  /**
   * Login roles that may `SET ROLE` to the tools role: the user the MCP
   * server connects as. Default: the current user, unless it is a superuser
   * (a superuser may become any role).
   */
  readonly grantTo?: readonly string[];
  /**
   * Makes the role able to log in with this password, for deployments that
   * give the MCP server its own connection URL (docs/mcp.md). Without it the
   * role is left as it is (created NOLOGIN).
   */
  readonly password?: string;
}

/** The grants the role ends up with, exactly (anything else it had in the host schema is revoked). */
export const TOOLS_GRANTS = [
  { table: 'tasks', privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] },
  { table: 'categories', privileges: ['SELECT', 'INSERT'] },
] as const;

function resolve(options: ToolsRoleOptions) {
  return {
    ...resolveTaskToolsConfig(options),
    chatkeepSchema: assertIdentifier('chatkeepSchema', options.chatkeepSchema ?? 'chatkeep'),
    grantTo: options.grantTo?.map((name, i) => assertIdentifier(`grantTo[${i}]`, name)),
  };
}

/**
 * Creates the task tools' role if it does not exist and sets its privileges
 * to exactly {@link TOOLS_GRANTS} plus USAGE on the host schema: everything
 * else it holds in the host schema, and anything at all in chatkeep's
 * schema, is revoked. Idempotent; run it again after the host adds tables.
 * Needs a user that may create roles and owns (or may grant on) the host's
 * tables; roles are cluster-wide on PostgreSQL, grants are per database.
 *
 * @example
 * await ensureToolsRole(database.db, { hostSchema: 'todo' });
 */
export async function ensureToolsRole(
  db: Kysely<any>,
  options: ToolsRoleOptions = {},
): Promise<void> {
  const { hostSchema, role, chatkeepSchema, grantTo } = resolve(options);
  try {
    await db.transaction().execute(async (trx) => {
      // Two first runs may race to create the role: the loser waits on the
      // catalogue's unique index and fails with unique_violation (or, if the
      // winner committed first, duplicate_object); either means "it exists".
      await sql
        .raw(
          `do $$ begin
  if not exists (select from pg_catalog.pg_roles where rolname = '${role}') then
    create role ${role} nologin;
  end if;
exception when duplicate_object or unique_violation then null;
end $$`,
        )
        .execute(trx);
      // A role refreshed here may have been given attributes that reach
      // around its grants (checkToolsRole says which): CREATEROLE lets it
      // grant itself a role that reads every table, REPLICATION streams
      // every table. Taken away when present; only then, because changing
      // REPLICATION needs a superuser, which a plain admin is not.
      const { rows: attributes } = await sql<{ rolcreaterole: boolean; rolreplication: boolean }>`
        select rolcreaterole, rolreplication from pg_catalog.pg_roles where rolname = ${role}`.execute(trx);
      if (attributes[0]?.rolcreaterole === true) await sql.raw(`alter role ${role} nocreaterole`).execute(trx);
      if (attributes[0]?.rolreplication === true) await sql.raw(`alter role ${role} noreplication`).execute(trx);
      if (options.password !== undefined) {
        if (options.password.length < 12) {
          throw new ChatkeepError('CK_CONFIG', 'password: at least 12 characters', {
            field: 'password',
          });
        }
        // ALTER ROLE takes no bind parameters; the literal is escaped (standard_conforming_strings is on by default since 9.1).
        await sql
          .raw(`alter role ${role} login password '${options.password.replace(/'/g, "''")}'`)
          .execute(trx);
      }
      const { rows } = await sql<{
        exists: boolean;
      }>`select exists (select from pg_catalog.pg_namespace where nspname = ${chatkeepSchema}) as exists`.execute(
        trx,
      );
      if (rows[0]?.exists === true) {
        for (const kind of [
          'schema',
          'all tables in schema',
          'all sequences in schema',
          'all functions in schema',
        ]) {
          await sql.raw(`revoke all on ${kind} ${chatkeepSchema} from ${role}`).execute(trx);
        }
      }
      await sql.raw(`revoke all on all tables in schema ${hostSchema} from ${role}`).execute(trx);
      await sql
        .raw(`revoke all on all sequences in schema ${hostSchema} from ${role}`)
        .execute(trx);
      await sql.raw(`grant usage on schema ${hostSchema} to ${role}`).execute(trx);
      for (const { table, privileges } of TOOLS_GRANTS) {
        await sql
          .raw(`grant ${privileges.join(', ')} on ${hostSchema}.${table} to ${role}`)
          .execute(trx);
      }
      for (const login of grantTo ?? (await currentUserIfNotSuperuser(trx))) {
        await sql.raw(`grant ${role} to ${login}`).execute(trx);
      }
    });
  } catch (error) {
    if (sqlState(error) === '42501') {
      throw new ChatkeepError(
        'CK_CONFIG',
        `The current user may not create role "${role}" or grant on schema "${hostSchema}": run this as a user with CREATEROLE that owns the host's tables`,
        { field: 'role', sqlState: '42501' },
        { cause: error },
      );
    }
    throw wrapTaskError(error, { hostSchema, role });
  }
}

async function currentUserIfNotSuperuser(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string; rolsuper: boolean }>`
    select current_user as name, rolsuper from pg_catalog.pg_roles where rolname = current_user`.execute(
    db,
  );
  const me = rows[0];
  return me === undefined || me.rolsuper ? [] : [assertIdentifier('current_user', me.name)];
}

/**
 * What is wrong with the tools role, as sentences; empty when it is exactly
 * as {@link ensureToolsRole} leaves it: it exists, is not a superuser, cannot
 * bypass row-level security, create roles or replicate, gets nothing from
 * default privileges outside the host schema, is a member of no other
 * role, has its grants on the host's task tables, has no privilege on
 * chatkeep's schema or on any table in it, and the current user may switch
 * to it.
 */
export async function checkToolsRole(
  db: Kysely<any>,
  options: ToolsRoleOptions = {},
): Promise<string[]> {
  const { hostSchema, role, chatkeepSchema } = resolve(options);
  const { rows } = await sql<{
    rolsuper: boolean;
    rolbypassrls: boolean;
    rolcreaterole: boolean;
    rolreplication: boolean;
    default_grants: number | string;
    member_of_others: boolean;
    can_switch: boolean;
    host_usage: boolean | null;
    chatkeep_usage: boolean | null;
    chatkeep_tables: number | string;
  }>`
    select r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolreplication,
      (select count(*) from pg_catalog.pg_default_acl d cross join lateral pg_catalog.aclexplode(d.defaclacl) a
         where a.grantee = r.oid
           and d.defaclnamespace is distinct from (select oid from pg_catalog.pg_namespace where nspname = ${hostSchema})) as default_grants,
      exists (select from pg_catalog.pg_auth_members m where m.member = r.oid) as member_of_others,
      pg_has_role(current_user, r.oid, 'MEMBER') as can_switch,
      (select has_schema_privilege(r.oid, n.oid, 'USAGE') from pg_catalog.pg_namespace n where n.nspname = ${hostSchema}) as host_usage,
      (select has_schema_privilege(r.oid, n.oid, 'USAGE') or has_schema_privilege(r.oid, n.oid, 'CREATE')
         from pg_catalog.pg_namespace n where n.nspname = ${chatkeepSchema}) as chatkeep_usage,
      (select count(*) from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
         where n.nspname = ${chatkeepSchema} and c.relkind in ('r', 'p', 'v', 'm', 'f')
           and (has_table_privilege(r.oid, c.oid, 'SELECT') or has_table_privilege(r.oid, c.oid, 'INSERT')
             or has_table_privilege(r.oid, c.oid, 'UPDATE') or has_table_privilege(r.oid, c.oid, 'DELETE')
             or has_table_privilege(r.oid, c.oid, 'TRUNCATE') or has_table_privilege(r.oid, c.oid, 'REFERENCES')
             or has_table_privilege(r.oid, c.oid, 'TRIGGER'))) as chatkeep_tables
    from pg_catalog.pg_roles r where r.rolname = ${role}`.execute(db);
  const found = rows[0];
  if (found === undefined) return [`role "${role}" does not exist`];
  const problems: string[] = [];
  if (found.rolsuper) problems.push(`role "${role}" is a superuser`);
  if (found.rolbypassrls) problems.push(`role "${role}" bypasses row-level security`);
  // Either attribute is a way around the grants below: CREATEROLE may grant
  // itself any role but a superuser (PostgreSQL 15 and earlier), e.g.
  // pg_read_all_data, in one statement; REPLICATION streams every table.
  if (found.rolcreaterole)
    problems.push(`role "${role}" has CREATEROLE and could grant itself another role (ALTER ROLE ${role} NOCREATEROLE)`);
  if (found.rolreplication)
    problems.push(`role "${role}" has REPLICATION and could read every table over a replication connection (ALTER ROLE ${role} NOREPLICATION)`);
  // Default privileges grant on objects created later, such as the tables of
  // chatkeep's next migration: today's grants in chatkeep's schema would not
  // show them. In the host schema they are the host's business.
  if (Number(found.default_grants) > 0)
    problems.push(
      `role "${role}" is named in default privileges outside the host schema "${hostSchema}" (ALTER DEFAULT PRIVILEGES … TO ${role}): tables created later, chatkeep's included, would be granted to it`,
    );
  if (found.member_of_others)
    problems.push(`role "${role}" is a member of another role and may inherit its privileges`);
  if (!found.can_switch) problems.push(`the current user may not SET ROLE to "${role}"`);
  if (found.chatkeep_usage === true)
    problems.push(`role "${role}" has privileges on chatkeep's schema "${chatkeepSchema}"`);
  if (Number(found.chatkeep_tables) > 0)
    problems.push(
      `role "${role}" has privileges on ${found.chatkeep_tables} table(s) in "${chatkeepSchema}"`,
    );
  if (found.host_usage !== true) {
    problems.push(
      `role "${role}" cannot use the host schema "${hostSchema}" (or it does not exist)`,
    );
    return problems;
  }
  for (const { table, privileges } of TOOLS_GRANTS) {
    const { rows: held } = await sql<{ missing: string[] | null }>`
      select array_agg(p) filter (where not has_table_privilege(${role}, c.oid, p)) as missing
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace,
        unnest(${[...privileges]}::text[]) p
      where n.nspname = ${hostSchema} and c.relname = ${table}
      group by c.oid`.execute(db);
    if (held[0] === undefined)
      problems.push(`the host table "${hostSchema}.${table}" does not exist`);
    else if (held[0].missing !== null && held[0].missing.length > 0) {
      problems.push(
        `role "${role}" lacks ${held[0].missing.join(', ')} on "${hostSchema}.${table}"`,
      );
    }
  }
  return problems;
}

/**
 * Throws CK_CONFIG naming the first problem {@link checkToolsRole} finds: the
 * MCP server refuses to start rather than serve through a role that could
 * read chat data or could not do its job.
 */
export async function assertToolsRole(
  db: Kysely<any>,
  options: ToolsRoleOptions = {},
): Promise<void> {
  const problems = await checkToolsRole(db, options);
  if (problems.length > 0) {
    throw new ChatkeepError(
      'CK_CONFIG',
      `The task tools' role is not safe to serve with: ${problems.join('; ')}. Run \`chatkeep mcp role\` as a user that may create roles and grant on the host's tables.`,
      { field: 'role', problems },
    );
  }
}
