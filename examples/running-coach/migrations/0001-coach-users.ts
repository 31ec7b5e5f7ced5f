import type { Migration } from '../../../src/migrate/index.js';

/**
 * The running-coach app as it was before chatkeep (seed 000): onboarding
 * state lives in legacy columns of the host's own `users` table, written by
 * the old onboarding screens. They were never constrained, which is how some
 * rows came to hold invalid JSON, unknown phases or negative progress —
 * migration 0002 must cope with exactly that data.
 */
export const coachUsersMigration: Migration = {
  version: 1,
  name: 'coach-users',
  up: ({ schema: s }) => [
    `create table ${s}.users (
  id text primary key,
  email text not null constraint users_email_key unique,
  display_name text not null,
  created_at timestamptz not null default now(),
  -- legacy onboarding (before chatkeep); no constraints, as in the old app
  onboarding_complete boolean not null default false,
  onboarding_phase text,          -- motivation | assessment | creation | refinement | complete
  onboarding_progress integer,    -- 0-100
  onboarding_goals text,          -- JSON text: a list of goals
  onboarding_answers text,        -- JSON text: an object of the coach's collected answers
  onboarding_completed_at timestamptz
)`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.users`],
};
