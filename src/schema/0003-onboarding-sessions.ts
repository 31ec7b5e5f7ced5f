import type { Migration } from '../migrate/migration.js';
import { userIdColumn } from './sql-fragments.js';

/**
 * Onboarding sessions (R-ONB-1, R-ONB-2): one row per user flow run, with at
 * most one `active` row per (user, flow), enforced by a partial unique index so
 * concurrent "start" calls cannot create two.
 */
export const onboardingSessionsMigration: Migration = {
  version: 3,
  name: 'onboarding-sessions',
  up: (ctx) => {
    const s = ctx.schema;
    return [
      `create table ${s}.onboarding_sessions (
  ${userIdColumn(ctx, 'onboarding_sessions')},
  id uuid not null default gen_random_uuid(),
  flow text not null constraint onboarding_sessions_flow_check check (flow ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
  phase text not null constraint onboarding_sessions_phase_check check (char_length(phase) between 1 and 100),
  progress smallint not null default 0 constraint onboarding_sessions_progress_check check (progress between 0 and 100),
  steps jsonb not null default '{}' constraint onboarding_sessions_steps_check check (jsonb_typeof(steps) = 'object'),
  goals jsonb not null default '[]' constraint onboarding_sessions_goals_check check (jsonb_typeof(goals) = 'array'),
  context jsonb not null default '{}' constraint onboarding_sessions_context_check check (jsonb_typeof(context) = 'object'),
  status text not null default 'active' constraint onboarding_sessions_status_check check (status in ('active', 'completed', 'abandoned')),
  conversation_id uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  abandoned_at timestamptz,
  constraint onboarding_sessions_status_time_check check (
    (status = 'completed') = (completed_at is not null) and (status = 'abandoned') = (abandoned_at is not null)
  ),
  constraint onboarding_sessions_pkey primary key (user_id, id),
  constraint onboarding_sessions_conversation_fk foreign key (user_id, conversation_id)
    references ${s}.conversations (user_id, id) on delete set null (conversation_id)
)`,
      `create unique index onboarding_sessions_one_active_idx on ${s}.onboarding_sessions (user_id, flow) where status = 'active'`,
    ];
  },
  down: (ctx) => [`drop table ${ctx.schema}.onboarding_sessions`],
};
