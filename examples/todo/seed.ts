import { sql, type Kysely } from 'kysely';

/** The demo users of the walkthrough. Their ids are what chatkeep and the MCP tools know them by. */
export const DEMO_USERS = [
  { id: 'alice', email: 'alice@example.com', name: 'Alice' },
  { id: 'bob', email: 'bob@example.com', name: 'Bob' },
] as const;

/**
 * Inserts the demo users and a category and task each, as the host app
 * itself would (it owns its tables); running it again changes nothing.
 */
export async function seedTodo(db: Kysely<any>, schema: string): Promise<void> {
  const s = sql.id(schema);
  await db.transaction().execute(async (trx) => {
    for (const user of DEMO_USERS) {
      await sql`insert into ${s}.users (id, email, name) values (${user.id}, ${user.email}, ${user.name}) on conflict (id) do nothing`.execute(
        trx,
      );
      await sql`insert into ${s}.categories (user_id, name) values (${user.id}, 'home') on conflict (user_id, name) do nothing`.execute(
        trx,
      );
      await sql`
        insert into ${s}.tasks (user_id, title, category_id)
        select ${user.id}, ${`Water the plants (${user.name})`}, c.id from ${s}.categories c
        where c.user_id = ${user.id} and c.name = 'home'
          and not exists (select from ${s}.tasks t where t.user_id = ${user.id})`.execute(trx);
    }
  });
}
