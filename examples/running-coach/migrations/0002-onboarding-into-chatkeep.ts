import {
  backfill,
  verify,
  type Migration,
  type MigrationContext,
} from '../../../src/migrate/index.js';

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
 * `down` stops the mirroring first, then deletes, in batches, exactly the
 * sessions this migration created (the ledger knows them), and drops what
 * `up` created. The legacy columns were never written, so the host table is
 * as before. Progress a user made in a migrated session through new code
 * after `up` is lost with that session: go back before switching the app's
 * readers, or accept that.
 *
 * `context.settings.chatkeepSchema` names chatkeep's schema (default `chatkeep`).
 */
export const onboardingIntoChatkeepMigration: Migration = {
  version: 2,
  name: 'onboarding-into-chatkeep',
  up: (ctx) => {
    const { s, c } = names(ctx);
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
    const { s, c } = names(ctx);
    return [
      `drop trigger users_onboarding_sync on ${s}.users`,
      backfill({
        table: `${s}.onboarding_migration`,
        key: ['user_id'],
        set: `session_id = ${s}.forget_legacy_onboarding(user_id, session_id)`,
        where: 'session_id is not null',
        batchSize: 200,
      }),
      verify(
        'no session created by the migration is left',
        `select not exists (select 1 from ${c}.onboarding_sessions where flow = '${COACH_FLOW}' and context->>'source' = 'legacy-onboarding')`,
      ),
      `drop view ${s}.onboarding_migration_issues`,
      `drop function ${s}.users_onboarding_sync()`,
      `drop function ${s}.forget_legacy_onboarding(text, uuid)`,
      `drop function ${s}.try_sync_legacy_onboarding(text)`,
      `drop function ${s}.sync_legacy_onboarding(text)`,
      `drop function ${s}.legacy_onboarding(${s}.users)`,
      `drop table ${s}.onboarding_migration`,
    ];
  },
};

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function names(ctx: MigrationContext): { s: string; c: string } {
  const c = ctx.settings['chatkeepSchema'] ?? 'chatkeep';
  if (typeof c !== 'string' || !IDENTIFIER.test(c)) {
    throw new Error(
      `settings.chatkeepSchema: expected a lower-case identifier, got ${JSON.stringify(c)}`,
    );
  }
  return { s: ctx.schema, c };
}
