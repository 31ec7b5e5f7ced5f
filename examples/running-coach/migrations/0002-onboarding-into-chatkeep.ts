import {
  backfill,
  verify,
  type Migration,
  type MigrationContext,
} from '../../../src/migrate/index.js';
import { coachSchemaNames } from './schema-names.js';

/** The onboarding flow the running coach's sessions belong to in chatkeep. */
export const COACH_FLOW = 'running-coach';

/**
 * Moves every user's legacy onboarding (columns of the host's `users`
 * table) into chatkeep's onboarding sessions — SPEC R-ONB-3, seed 000 AC4/AC5
 * — while the app keeps running.
 *
 * Per user, the legacy fields decide (`legacy_onboarding()`; a field that is
 * present must be valid, nothing is guessed):
 *
 * | legacy fields | outcome | in chatkeep |
 * |---|---|---|
 * | `onboarding_complete` | `completed` | a completed session, phase `complete`, progress 100 |
 * | a known phase, not complete | `active` | an active session at that phase, progress and goals |
 * | nothing at all | `not-started` | nothing (the app starts a session on first visit) |
 * | invalid JSON, unknown phase, progress outside 0–100, goals not a list, answers not an object, data without a phase | `corrupt` | nothing; the host row is kept untouched and the reason recorded |
 * | the user already has an active session written by new code | `conflict` | that session, untouched |
 *
 * Every user's outcome is recorded in `<schema>.onboarding_migration` (the
 * ledger and report); `<schema>.onboarding_migration_issues` lists the users
 * that need a person (`corrupt`, `conflict`, `error`), with the reason.
 *
 * How it stays online:
 * 1. one short transaction creates the ledger, the functions and an AFTER
 *    trigger on `users`: from then on every write the (old) app makes to a
 *    user's legacy onboarding is mirrored into chatkeep in the same
 *    transaction (dual-write), and a new user gets a ledger row at once;
 * 2. the ledger is filled with every existing user (one INSERT … SELECT of
 *    ids: it reads `users` without blocking its writers);
 * 3. a backfill walks the ledger in batches, migrating the users still
 *    pending; each user's row is locked `FOR SHARE` while it is read, so a
 *    concurrent write by the app is either seen or waits the few ms of the
 *    batch — never lost;
 * 4. verifications: every user has an outcome, no sync failed, every
 *    migrated user has their session.
 *
 * The mirror stays until migration 3 (`onboarding-mirror-complete`) removes
 * it, once no old app instance is left.
 *
 * `down` gives every user's onboarding back to the legacy fields, losing no
 * progress made through new code meanwhile. It first refuses, changing
 * nothing, if some user's state in chatkeep has no legacy form (a phase the
 * old app does not know). Then, in batches, per user and under the user's
 * row lock: when chatkeep holds a newer state than the legacy fields (a
 * migrated session new code moved on, or a session new code started for a
 * user who had not started), that state is written into the legacy fields
 * in their format (completed → `onboarding_complete`, phase `complete`,
 * progress 100); then the sessions the migration answers for are deleted.
 * The mirror keeps running for the users not returned yet, so an old-app
 * write during down is not lost either. Legacy fields that already say the
 * same thing are not written (byte-identical), nor are corrupt ones (their
 * migrated session, if any, is deleted as before). A session of a
 * `conflict` user is new code's and stays. Last, what `up` created is
 * dropped.
 *
 * `context.settings.chatkeepSchema` names chatkeep's schema (default
 * `chatkeep`); `context.settings.backfillRowsPerSecond` optionally throttles
 * the backfill.
 */
export const onboardingIntoChatkeepMigration: Migration = {
  version: 2,
  name: 'onboarding-into-chatkeep',
  up: (ctx) => {
    const { s, c } = coachSchemaNames(ctx);
    return [
      `create table ${s}.onboarding_migration (
  user_id text primary key constraint onboarding_migration_user_fk references ${s}.users (id) on delete cascade,
  outcome text constraint onboarding_migration_outcome_check
    check (outcome in ('completed', 'active', 'not-started', 'corrupt', 'conflict', 'error')),
  reason text,
  session_id uuid,
  synced_at timestamptz
)`,
      `comment on table ${s}.onboarding_migration is 'Legacy onboarding moved into ${c}.onboarding_sessions: one row per user; outcome null = still pending'`,
      `create view ${s}.onboarding_migration_issues as
  select m.user_id, m.outcome, m.reason, m.synced_at
    from ${s}.onboarding_migration m
   where m.outcome in ('corrupt', 'conflict', 'error')`,
      // What the legacy fields say, or why they cannot be trusted. Reasons
      // name the field and never copy a user's goals or answers (personal data).
      `create function ${s}.legacy_onboarding(u ${s}.users,
  out outcome text, out reason text, out phase text, out progress integer, out goals jsonb, out answers jsonb)
language plpgsql stable as $fn$
begin
  if u.onboarding_phase is not null
     and u.onboarding_phase not in ('motivation', 'assessment', 'creation', 'refinement', 'complete') then
    outcome := 'corrupt'; reason := format('unknown phase %L', left(u.onboarding_phase, 40)); return;
  end if;
  if u.onboarding_progress is not null and u.onboarding_progress not between 0 and 100 then
    outcome := 'corrupt'; reason := format('progress %s is outside 0-100', u.onboarding_progress); return;
  end if;
  if u.onboarding_goals is not null then
    begin
      goals := u.onboarding_goals::jsonb;
    exception when invalid_text_representation then
      outcome := 'corrupt'; reason := 'goals are not valid JSON'; return;
    end;
    if jsonb_typeof(goals) <> 'array' then
      outcome := 'corrupt'; reason := format('goals are a JSON %s, not a list', jsonb_typeof(goals)); return;
    end if;
  end if;
  if u.onboarding_answers is not null then
    begin
      answers := u.onboarding_answers::jsonb;
    exception when invalid_text_representation then
      outcome := 'corrupt'; reason := 'answers are not valid JSON'; return;
    end;
    if jsonb_typeof(answers) <> 'object' then
      outcome := 'corrupt'; reason := format('answers are a JSON %s, not an object', jsonb_typeof(answers)); return;
    end if;
  end if;
  goals := coalesce(goals, '[]'); answers := coalesce(answers, '{}');
  if u.onboarding_complete then
    outcome := 'completed'; phase := 'complete'; progress := 100; return;
  end if;
  if u.onboarding_phase = 'complete' then
    outcome := 'corrupt'; reason := 'phase is complete but onboarding_complete is false'; return;
  end if;
  if u.onboarding_phase is null then
    if coalesce(u.onboarding_progress, 0) = 0 and u.onboarding_goals is null and u.onboarding_answers is null then
      outcome := 'not-started'; goals := null; answers := null; return;
    end if;
    outcome := 'corrupt'; reason := 'progress, goals or answers without a phase'; return;
  end if;
  outcome := 'active'; phase := u.onboarding_phase; progress := coalesce(u.onboarding_progress, 0);
end
$fn$`,
      // Applies one user's legacy state to chatkeep: creates their session,
      // or brings the one it created earlier up to date. The FOR SHARE lock on
      // the user's row serialises this with the app's own writes of that
      // user, so the state applied is the latest committed one.
      `create function ${s}.sync_legacy_onboarding(p_user text, out outcome text, out reason text, out session_id uuid)
language plpgsql as $fn$
declare
  u ${s}.users;
  l record;
begin
  select * into u from ${s}.users where id = p_user for share;
  if not found then return; end if;
  select m.session_id into session_id from ${s}.onboarding_migration m where m.user_id = p_user;
  select * into l from ${s}.legacy_onboarding(u);
  outcome := l.outcome; reason := l.reason;
  if l.outcome not in ('completed', 'active') then return; end if;
  if session_id is not null then
    begin
      update ${c}.onboarding_sessions s
         set phase = l.phase, progress = l.progress, goals = l.goals,
             context = s.context || jsonb_build_object('answers', l.answers),
             status = case when l.outcome = 'completed' then 'completed' else 'active' end,
             completed_at = case when l.outcome = 'completed' then coalesce(s.completed_at, u.onboarding_completed_at, now()) end,
             abandoned_at = null, updated_at = now()
       where s.user_id = p_user and s.id = session_id;
      if found then return; end if;
    exception when unique_violation then
      outcome := 'conflict'; reason := 'another active ${COACH_FLOW} session of the user exists in chatkeep'; return;
    end;
  end if;
  insert into ${c}.onboarding_sessions as s (user_id, flow, phase, progress, goals, context, status, created_at, completed_at)
  values (p_user, '${COACH_FLOW}', l.phase, l.progress, l.goals,
          jsonb_build_object('source', 'legacy-onboarding', 'answers', l.answers)
            || case when l.outcome = 'completed' and u.onboarding_completed_at is null
                    then '{"completedAtUnknown": true}'::jsonb else '{}'::jsonb end,
          case when l.outcome = 'completed' then 'completed' else 'active' end,
          u.created_at,
          case when l.outcome = 'completed' then coalesce(u.onboarding_completed_at, now()) end)
  on conflict (user_id, flow) where status = 'active' do nothing
  returning s.id into session_id;
  if session_id is null then
    outcome := 'conflict';
    reason := 'the user already has an active ${COACH_FLOW} session in chatkeep (started by new code); legacy state not applied';
  end if;
end
$fn$`,
      // The app must never fail because of the migration: an unexpected
      // error is recorded as outcome 'error' (and stops the migration at its
      // verification) instead of failing the app's write.
      `create function ${s}.try_sync_legacy_onboarding(p_user text, out outcome text, out reason text, out session_id uuid)
language plpgsql as $fn$
begin
  select o.outcome, o.reason, o.session_id into outcome, reason, session_id from ${s}.sync_legacy_onboarding(p_user) o;
exception when others then
  outcome := 'error';
  reason := format('sync failed with SQLSTATE %s', sqlstate);
  select m.session_id into session_id from ${s}.onboarding_migration m where m.user_id = p_user;
end
$fn$`,
      `create function ${s}.users_onboarding_sync() returns trigger
language plpgsql as $fn$
declare
  r record;
begin
  select * into r from ${s}.try_sync_legacy_onboarding(new.id);
  insert into ${s}.onboarding_migration as m (user_id, outcome, reason, session_id, synced_at)
  values (new.id, r.outcome, r.reason, r.session_id, now())
  on conflict (user_id) do update
    set outcome = excluded.outcome, reason = excluded.reason, session_id = excluded.session_id, synced_at = excluded.synced_at;
  return null;
end
$fn$`,
      // For down: deletes a session this migration created; returns null for the ledger.
      `create function ${s}.forget_legacy_onboarding(p_user text, p_session uuid) returns uuid
language sql as $fn$
  delete from ${c}.onboarding_sessions where user_id = p_user and id = p_session;
  select null::uuid;
$fn$`,
      `create trigger users_onboarding_sync
  after insert or update of onboarding_complete, onboarding_phase, onboarding_progress, onboarding_goals, onboarding_answers
  on ${s}.users for each row execute function ${s}.users_onboarding_sync()`,
      // A phase boundary as well as a check: the trigger must be committed
      // before the ledger is filled, so that a user is either in the fill's
      // snapshot or was written with the trigger in place — none slips between.
      verify(
        `the legacy onboarding sync trigger is enabled on ${s}.users`,
        `select exists (select 1 from pg_trigger where tgrelid = '${s}.users'::regclass and tgname = 'users_onboarding_sync' and tgenabled <> 'D')`,
      ),
      `insert into ${s}.onboarding_migration (user_id) select id from ${s}.users on conflict (user_id) do nothing`,
      backfill({
        table: `${s}.onboarding_migration`,
        key: ['user_id'],
        set: `(outcome, reason, session_id, synced_at) = (select o.outcome, o.reason, o.session_id, now() from ${s}.try_sync_legacy_onboarding(user_id) o)`,
        where: 'outcome is null',
        batchSize: 200,
        ...backfillPacing(ctx.settings),
      }),
      verify(
        'every user has an onboarding outcome',
        `select not exists (select 1 from ${s}.users u left join ${s}.onboarding_migration m on m.user_id = u.id where m.outcome is null)`,
      ),
      verify(
        `no user's onboarding sync failed (see ${s}.onboarding_migration_issues)`,
        `select not exists (select 1 from ${s}.onboarding_migration where outcome = 'error')`,
      ),
      verify(
        `every migrated user has their ${COACH_FLOW} session in chatkeep`,
        `select not exists (
  select 1 from ${s}.onboarding_migration m
   where m.outcome in ('completed', 'active')
     and not exists (select 1 from ${c}.onboarding_sessions x
                      where x.user_id = m.user_id and x.id = m.session_id and x.flow = '${COACH_FLOW}'))`,
      ),
    ];
  },
  down: (ctx) => {
    const { s, c } = coachSchemaNames(ctx);
    const returning = `('completed', 'active', 'not-started')`;
    return [
      // What down would write back for one user, decided from the ledger row:
      // nothing when the legacy fields are already the user's latest state,
      // the fields in the legacy format when chatkeep holds a newer one, or
      // a problem when that state has no legacy form. Reads only.
      `create function ${s}.onboarding_return_plan(m ${s}.onboarding_migration,
  out covered boolean, out write boolean, out complete boolean, out phase text, out progress integer,
  out goals jsonb, out answers jsonb, out completed_at timestamptz, out problem text)
language plpgsql stable as $fn$
declare
  u ${s}.users;
  l record;
  x ${c}.onboarding_sessions;
begin
  covered := false; write := false;
  if m.synced_at is null or m.outcome not in ${returning} then return; end if;
  select * into u from ${s}.users where id = m.user_id;
  if not found then return; end if;
  select * into l from ${s}.legacy_onboarding(u);
  -- Corrupt legacy fields are kept byte-identical, whatever chatkeep holds.
  if l.outcome not in ${returning} then return; end if;
  covered := true;
  -- The user's current session among the ones the migration answers for:
  -- the one it created, and any new code started since the last mirrored
  -- legacy write (for a user who had not started, that is all of theirs).
  select x0.* into x from ${c}.onboarding_sessions x0
   where x0.user_id = m.user_id and x0.flow = '${COACH_FLOW}'
     and (x0.id = m.session_id
          or (x0.created_at >= m.synced_at and x0.context->>'source' is distinct from 'legacy-onboarding'))
   order by x0.status = 'active' desc, x0.updated_at desc, x0.id
   limit 1;
  if not found then return; end if;
  -- The mirror stamps a session and its ledger row in one transaction
  -- (updated_at = synced_at): a migrated session stamped no later than that
  -- holds nothing the legacy fields do not, which may even be newer (an
  -- old-app write the mirror found no session to apply to).
  if x.id = m.session_id and x.updated_at <= m.synced_at then return; end if;
  answers := x.context->'answers';
  if answers is not null and jsonb_typeof(answers) <> 'object' then
    problem := 'its answers are not a JSON object'; return;
  end if;
  goals := x.goals;
  if x.status = 'completed' then
    complete := true; phase := 'complete'; progress := 100;
    completed_at := case when x.context ? 'completedAtUnknown' then null else x.completed_at end;
  elsif x.phase in ('motivation', 'assessment', 'creation', 'refinement') then
    -- active, or abandoned: the legacy app knows no abandoning, it resumes.
    complete := false; phase := x.phase; progress := x.progress;
  else
    problem := format('phase %L is not one the legacy app knows', left(x.phase, 40)); return;
  end if;
  write := (case when complete then 'completed' else 'active' end, phase, progress, goals, coalesce(answers, '{}'))
           is distinct from (l.outcome, l.phase, l.progress, l.goals, l.answers);
end
$fn$`,
      // Down refuses before anything changes when a user's state in chatkeep
      // cannot be written in the legacy format: going back must not lose it.
      `do $do$
declare
  n bigint;
  examples text;
begin
  select count(*), string_agg(format('%s (%s)', q.user_id, q.problem), ', ' order by q.user_id) filter (where q.rn <= 5)
    into n, examples
    from (select m.user_id, p.problem, row_number() over (order by m.user_id) as rn
            from ${s}.onboarding_migration m
            cross join lateral ${s}.onboarding_return_plan(m) p
           where p.problem is not null) q;
  if n > 0 then
    raise exception 'Refused: % users'' onboarding in chatkeep has no legacy form, e.g. %. Nothing was changed. Advance those sessions to a phase the legacy app knows (motivation, assessment, creation, refinement) or complete them, then run down again', n, examples;
  end if;
end
$do$`,
      `create table ${s}.onboarding_return (
  user_id text primary key,
  outcome text
)`,
      `comment on table ${s}.onboarding_return is 'Down of onboarding-into-chatkeep: one row per user; outcome null = not returned to the legacy fields yet'`,
      // Returns one user: writes their newer chatkeep state into the legacy
      // fields, then deletes the sessions the migration answers for.
      `create function ${s}.return_legacy_onboarding(p_user text) returns text
language plpgsql as $fn$
declare
  m ${s}.onboarding_migration;
  p record;
begin
  -- Serialises with the app: an old-app write of this user committed before
  -- (and the mirror put it into the session read below) or waits, and then
  -- finds the user returned; a new-code write of their sessions likewise.
  perform 1 from ${s}.users where id = p_user for update;
  select * into m from ${s}.onboarding_migration where user_id = p_user for update;
  if not found then return 'gone'; end if;
  if m.synced_at is null then return 'returned'; end if;
  perform 1 from ${c}.onboarding_sessions where user_id = p_user and flow = '${COACH_FLOW}' for update;
  select * into p from ${s}.onboarding_return_plan(m);
  if p.problem is not null then
    raise exception 'user %: their onboarding in chatkeep has no legacy form (%)', p_user, p.problem;
  end if;
  -- Returned from here on: the write below fires the mirror, which now
  -- leaves this user alone.
  update ${s}.onboarding_migration set synced_at = null where user_id = p_user;
  if p.write then
    update ${s}.users
       set onboarding_complete = p.complete, onboarding_phase = p.phase, onboarding_progress = p.progress,
           onboarding_goals = p.goals::text, onboarding_answers = p.answers::text,
           onboarding_completed_at = p.completed_at
     where id = p_user;
  end if;
  delete from ${c}.onboarding_sessions x
   where x.user_id = p_user and x.flow = '${COACH_FLOW}'
     and (x.id = m.session_id
          or (p.covered and x.created_at >= m.synced_at and x.context->>'source' is distinct from 'legacy-onboarding'));
  return case when p.write then 'written-back' when p.covered then 'unchanged' else 'kept' end;
end
$fn$`,
      // The mirror, while down runs: users not returned yet are still
      // mirrored, so their session stays their latest state; returned users,
      // and users who signed up meanwhile, are left to the legacy fields.
      `create or replace function ${s}.users_onboarding_sync() returns trigger
language plpgsql as $fn$
declare
  r record;
begin
  if not exists (select 1 from ${s}.onboarding_migration m where m.user_id = new.id and m.synced_at is not null) then
    return null;
  end if;
  select * into r from ${s}.try_sync_legacy_onboarding(new.id);
  update ${s}.onboarding_migration
     set outcome = r.outcome, reason = r.reason, session_id = r.session_id, synced_at = now()
   where user_id = new.id;
  return null;
end
$fn$`,
      `insert into ${s}.onboarding_return (user_id) select user_id from ${s}.onboarding_migration`,
      backfill({
        table: `${s}.onboarding_return`,
        key: ['user_id'],
        set: `outcome = ${s}.return_legacy_onboarding(user_id)`,
        where: 'outcome is null',
        batchSize: 200,
      }),
      verify(
        "every user's onboarding is back in the legacy fields",
        `select not exists (select 1 from ${s}.onboarding_return where outcome is null)`,
      ),
      verify(
        'no session created by the migration is left',
        `select not exists (select 1 from ${c}.onboarding_sessions where flow = '${COACH_FLOW}' and context->>'source' = 'legacy-onboarding')`,
      ),
      `drop trigger users_onboarding_sync on ${s}.users`,
      `drop view ${s}.onboarding_migration_issues`,
      `drop function ${s}.users_onboarding_sync()`,
      `drop function ${s}.return_legacy_onboarding(text)`,
      `drop function ${s}.onboarding_return_plan(${s}.onboarding_migration)`,
      `drop function ${s}.forget_legacy_onboarding(text, uuid)`,
      `drop function ${s}.try_sync_legacy_onboarding(text)`,
      `drop function ${s}.sync_legacy_onboarding(text)`,
      `drop function ${s}.legacy_onboarding(${s}.users)`,
      `drop table ${s}.onboarding_return`,
      `drop table ${s}.onboarding_migration`,
    ];
  },
};

/**
 * `context.settings.backfillRowsPerSecond`: throttles the backfill (e.g.
 * `host.ts migrate --rows-per-second 500` on a busy server). Pacing is not
 * part of the checksum, so it may differ between a killed run and its
 * resumption.
 */
function backfillPacing(settings: MigrationContext['settings']): { rowsPerSecond?: number } {
  const rate = settings['backfillRowsPerSecond'];
  if (rate === undefined) return {};
  if (typeof rate !== 'number' || !(rate > 0)) {
    throw new Error(
      `settings.backfillRowsPerSecond: expected a positive number, got ${JSON.stringify(rate)}`,
    );
  }
  return { rowsPerSecond: rate };
}
