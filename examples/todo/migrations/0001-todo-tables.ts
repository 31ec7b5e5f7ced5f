import type { Migration } from '../../../src/migrate/index.js';

/**
 * The Todo host app's Phase-2 tables: users, their categories, their tasks.
 * This is the host's own schema, not chatkeep's: chatkeep never alters it
 * (seed 002 FR-002), and the MCP task tools act on `tasks` and `categories`
 * through a role that can see nothing else (docs/mcp.md).
 *
 * Constraint names are chosen so src/mcp can name the field a database-only
 * rule protects (`tasks_title_check` → `title`).
 */
export const todoTablesMigration: Migration = {
  version: 1,
  name: 'todo-tables',
  up: ({ schema: s }) => [
    `create table ${s}.users (
  id text primary key constraint users_id_check check (id ~ '^[A-Za-z0-9._@:-]{1,128}$'),
  email text not null constraint users_email_key unique constraint users_email_check check (email ~ '^[^@\\s]+@[^@\\s]+$'),
  name text not null constraint users_name_check check (char_length(name) between 1 and 100),
  created_at timestamptz not null default now()
)`,
    `create table ${s}.categories (
  id bigint generated always as identity primary key,
  user_id text not null constraint categories_user_fk references ${s}.users (id) on delete cascade,
  name text not null constraint categories_name_check check (char_length(name) between 1 and 50 and btrim(name) <> ''),
  created_at timestamptz not null default now(),
  constraint categories_user_name_key unique (user_id, name),
  constraint categories_user_id_id_key unique (user_id, id)
)`,
    // The category foreign key includes user_id, so a task can only ever
    // point at a category of its own user, whoever writes the row.
    `create table ${s}.tasks (
  id bigint generated always as identity primary key,
  user_id text not null constraint tasks_user_fk references ${s}.users (id) on delete cascade,
  title text not null constraint tasks_title_check check (char_length(title) between 1 and 200 and btrim(title) <> ''),
  description text constraint tasks_description_check check (description is null or char_length(description) <= 1000),
  completed boolean not null default false,
  priority text not null default 'medium' constraint tasks_priority_check check (priority in ('low', 'medium', 'high')),
  due_date date,
  category_id bigint,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tasks_category_fk foreign key (user_id, category_id)
    references ${s}.categories (user_id, id) on delete set null (category_id)
)`,
    `create index tasks_user_idx on ${s}.tasks (user_id, completed, id)`,
  ],
  down: ({ schema: s }) => [
    `drop table ${s}.tasks`,
    `drop table ${s}.categories`,
    `drop table ${s}.users`,
  ],
};
