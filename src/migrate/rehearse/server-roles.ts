import { sql, type Kysely } from 'kysely';

/**
 * The roles of the server a PostgreSQL copy lives on. Roles are objects of
 * the server, not of a database: a migration that creates or drops one on
 * the copy changes the server, which a pg_dump copy (`postgresDumpCopy`)
 * shares with the target, and discarding the copy does not undo it.
 */
export async function serverRoles(db: Kysely<any>): Promise<ReadonlySet<string>> {
  const { rows } = await sql<{ rolname: string }>`select rolname from pg_roles`.execute(db);
  return new Set(rows.map((r) => r.rolname));
}

/**
 * A note naming the roles the rehearsal created or dropped, or none. They are
 * reported rather than undone: the rehearsal cannot tell a role its plan
 * created from one someone else created on the server meanwhile, and dropping
 * the wrong one would break them. Left in place, a created role makes the
 * real `CREATE ROLE` fail with "already exists".
 */
export function serverRolesNote(before: ReadonlySet<string>, after: ReadonlySet<string>): string[] {
  const created = [...after].filter((r) => !before.has(r)).sort();
  const dropped = [...before].filter((r) => !after.has(r)).sort();
  if (created.length === 0 && dropped.length === 0) return [];
  const changes = [
    ...(created.length === 0 ? [] : [`created ${created.join(', ')}`]),
    ...(dropped.length === 0 ? [] : [`dropped ${dropped.join(', ')}`]),
  ].join(' and ');
  return [
    `The rehearsal ${changes} on the copy's server: roles belong to the server, not to a database, so this stays after the copy is discarded, and on a pg_dump copy it is the target's server. Undo it before the real run (a role left behind makes its CREATE ROLE fail with "already exists").`,
  ];
}
