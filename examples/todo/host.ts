/**
 * The Todo host app, reduced to what the walkthrough needs (README.md):
 *
 *   npx tsx examples/todo/host.ts setup [--data-dir DIR | --database-url URL] [--schema todo] [--role chatkeep_tools]
 *   npx tsx examples/todo/host.ts tasks <user> [same options]
 *
 * `setup` migrates the host's own schema with chatkeep's migration engine,
 * seeds two users, installs chatkeep beside it (its own schema, with a real
 * foreign key to the host's users) and creates the MCP tools' role (`--role`,
 * default `chatkeep_tools`; give `chatkeep mcp` the same `--role`). `tasks`
 * prints a user's tasks the way the host app sees them, so you can watch
 * what the assistant did through MCP.
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { openDatabase, openStore } from '../../src/index.js';
import { DEFAULT_TOOLS_ROLE, ensureToolsRole } from '../../src/mcp/index.js';
import { DEFAULT_TODO_SCHEMA, todoMigrator } from './migrations/index.js';
import { DEMO_USERS, seedTodo } from './seed.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    'data-dir': { type: 'string' },
    'database-url': { type: 'string' },
    schema: { type: 'string', default: DEFAULT_TODO_SCHEMA },
    role: { type: 'string', default: DEFAULT_TOOLS_ROLE },
  },
});
const [command, user] = positionals;
const schema = values.schema;
const role = values.role;
if (
  (command !== 'setup' && (command !== 'tasks' || user === undefined)) ||
  (values['data-dir'] !== undefined && values['database-url'] !== undefined)
) {
  // Before opening anything: a typo must not create a data folder.
  console.error(
    'usage: host.ts setup | host.ts tasks <user>   [--data-dir DIR | --database-url URL] [--schema todo] [--role chatkeep_tools]',
  );
  process.exit(2);
}
// A --data-dir given here wins over DATABASE_URL, as in openStore and the chatkeep CLI.
const url = values['data-dir'] === undefined ? (values['database-url'] ?? process.env['DATABASE_URL']) : undefined;
const database = await openDatabase(
  url !== undefined && url !== '' ? { url } : { dataDir: values['data-dir'] ?? './.chatkeep/data' },
);

try {
  if (command === 'setup') {
    const { error } = await todoMigrator(database.db, { schema }).up();
    if (error !== undefined) throw error;
    await seedTodo(database.db, schema);
    console.log(
      `Host app: schema "${schema}" migrated on ${database.description}; users ${DEMO_USERS.map((u) => u.id).join(', ')}`,
    );

    // chatkeep beside it, in its own schema. The first migrate records the
    // reference to the host's users table; chat rows get a foreign key to it.
    const store = await openStore({
      database,
      users: { table: `${schema}.users`, column: 'id', type: 'text' },
      maxContentLength: 1000,
    });
    await store.close();
    console.log(
      'chatkeep: schema "chatkeep" migrated beside it (the host\'s tables are untouched)',
    );

    await ensureToolsRole(database.db, { hostSchema: schema, role });
    console.log(
      `MCP tools: role "${role}" may use ${schema}.tasks and ${schema}.categories, and nothing in "chatkeep"`,
    );
  } else {
    const { rows } = await sql<{
      id: string | number;
      title: string;
      completed: boolean;
      category: string | null;
      due_date: string | null;
    }>`
      select t.id, t.title, t.completed, c.name as category, t.due_date::text as due_date
      from ${sql.id(schema, 'tasks')} t left join ${sql.id(schema, 'categories')} c on c.user_id = t.user_id and c.id = t.category_id
      where t.user_id = ${user} order by t.id`.execute(database.db);
    console.log(`Tasks of ${user}:`);
    for (const t of rows) {
      console.log(
        `  #${t.id} [${t.completed ? 'x' : ' '}] ${t.title}${t.category ? `  (${t.category})` : ''}${t.due_date ? `  due ${t.due_date}` : ''}`,
      );
    }
  }
} finally {
  await database.close();
}
