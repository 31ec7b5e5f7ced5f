import { backfill, verify, type Migration } from '../../../src/migrate/index.js';
import { coachSchemaNames } from './schema-names.js';

/**
 * Ends the running coach's onboarding rollout: removes the mirror
 * (`users_onboarding_sync`, the trigger migration 2 installed so the old
 * app's writes of the legacy onboarding fields reached chatkeep). Run it
 * once no old app instance writes those fields any more; from then on
 * chatkeep's sessions are the only onboarding state that moves.
 *
 * As the contract step of expand/contract does, it first verifies that
 * chatkeep has every user's legacy onboarding (`onboarding_mirror_disagreement()`):
 *
 * | user | agrees when |
 * |---|---|
 * | `completed` / `active` | their session is as the legacy fields say, or new code moved it on after the last mirrored write (chatkeep is newer) |
 * | `not-started` | the legacy fields are still empty |
 * | `corrupt` / `conflict` | always: kept in the legacy fields and reported in `onboarding_migration_issues`, a person decides |
 * | no ledger row, pending, `error` | never (never synced, or the sync failed) |
 *
 * Legacy fields that changed while the mirror was disabled, or a migrated
 * session that is gone, disagree too. If any user disagrees, the migration
 * refuses with the count per reason and a few user ids, and the mirror stays.
 * Re-saving those users' legacy fields (`update <schema>.users set
 * onboarding_phase = onboarding_phase where id in (…)`) makes the mirror
 * sync them; run it again. All of them:
 * `select id, <schema>.onboarding_mirror_disagreement(id) from <schema>.users where <schema>.onboarding_mirror_disagreement(id) is not null`.
 *
 * The legacy columns stay: dropping the host's columns is the host's own
 * later decision (and migration).
 *
 * `down` re-installs the mirror exactly as migration 2 created it (replacing
 * it when an `up` that stopped at its check left it in place: `migrate down`
 * undoes such an in-flight `up` with this `down`), gives
 * users who signed up meanwhile their ledger row, re-syncs in batches every
 * user whose legacy fields were written meanwhile (the old app is back;
 * a session new code moved on since is kept, the check above counts it as
 * agreeing), and verifies that every user agrees again: the state
 * migration 2 left.
 */
export const onboardingMirrorCompleteMigration: Migration = {
  version: 3,
  name: 'onboarding-mirror-complete',
  up: (ctx) => {
    const { s, c } = coachSchemaNames(ctx);
    return [
      disagreementFunction(s, c),
      // A phase boundary: the function stays when the check below refuses,
      // so a support person can list every disagreeing user with it.
      verify(
        `the legacy onboarding mirror is installed and enabled on ${s}.users`,
        `select exists (select 1 from pg_trigger where tgrelid = '${s}.users'::regclass and tgname = 'users_onboarding_sync' and tgenabled <> 'D')`,
      ),
      `do $do$
declare
  n bigint;
  total bigint;
  reasons text;
  examples text;
begin
  with d as (select u.id, ${s}.onboarding_mirror_disagreement(u.id) as reason from ${s}.users u)
  select (select count(*) from d where d.reason is not null),
         (select count(*) from d),
         (select string_agg(format('%s: %s', r.n, r.reason), ', ' order by r.reason)
            from (select d.reason, count(*) as n from d where d.reason is not null group by d.reason) r),
         (select string_agg(e.id, ', ' order by e.id)
            from (select d.id from d where d.reason is not null order by d.id limit 5) e)
    into n, total, reasons, examples;
  if n > 0 then
    raise exception 'Refused: % of % users'' legacy onboarding is not in chatkeep (%; e.g. %). The mirror stays installed. Re-save their legacy fields so the mirror syncs them (update ${s}.users set onboarding_phase = onboarding_phase where id in (...); all of them: select id from ${s}.users where ${s}.onboarding_mirror_disagreement(id) is not null), then run the migration again', n, total, reasons, examples;
  end if;
end
$do$`,
      // From here old-app writes of users wait for the commit (the trigger's
      // lock), so no write can slip between the check and the drop; a write
      // the mirror applied meanwhile agrees, unless its sync failed.
      `drop trigger users_onboarding_sync on ${s}.users`,
      `do $do$
begin
  if exists (select 1 from ${s}.onboarding_migration where outcome is null or outcome = 'error') then
    raise exception 'Refused: a sync of the legacy onboarding failed during the check (see ${s}.onboarding_migration_issues); the mirror stays installed';
  end if;
end
$do$`,
      `drop function ${s}.users_onboarding_sync()`,
    ];
  },
  down: (ctx) => {
    const { s } = coachSchemaNames(ctx);
    return [
      ...mirrorStatements(s),
      // Users who signed up while the mirror was gone; they have been
      // "not started" since they signed up (the backfill below checks).
      `insert into ${s}.onboarding_migration (user_id, synced_at) select u.id, u.created_at from ${s}.users u on conflict (user_id) do nothing`,
      backfill({
        table: `${s}.onboarding_migration`,
        key: ['user_id'],
        set: `(outcome, reason, session_id, synced_at) = (
  select o.outcome, o.reason, o.session_id,
         case when onboarding_migration.outcome is null and o.outcome = 'not-started' then onboarding_migration.synced_at else now() end
    from ${s}.try_sync_legacy_onboarding(user_id) o)`,
        where: `outcome is null or ${s}.onboarding_mirror_disagreement(user_id) is not null`,
        batchSize: 200,
      }),
      verify(
        "every user's legacy onboarding is in chatkeep again",
        `select not exists (select 1 from ${s}.users u where ${s}.onboarding_mirror_disagreement(u.id) is not null)`,
      ),
      `drop function if exists ${s}.onboarding_mirror_disagreement(text)`,
    ];
  },
};

/**
 * Why a user's legacy onboarding is not (yet) in chatkeep, or null when it
 * is. Reasons never copy a user's goals or answers.
 */
function disagreementFunction(s: string, c: string): string {
  return `create function ${s}.onboarding_mirror_disagreement(p_user text) returns text
language plpgsql stable as $fn$
declare
  u ${s}.users;
  m ${s}.onboarding_migration;
  l record;
  x ${c}.onboarding_sessions;
begin
  select * into u from ${s}.users where id = p_user;
  if not found then return null; end if;
  select * into m from ${s}.onboarding_migration where user_id = p_user;
  if not found or m.outcome is null then return 'never synced'; end if;
  if m.outcome = 'error' then return 'sync failed'; end if;
  if m.outcome = 'conflict' then return null; end if;
  select * into l from ${s}.legacy_onboarding(u);
  if l.outcome is distinct from m.outcome then return 'legacy fields changed without the mirror'; end if;
  if m.outcome in ('corrupt', 'not-started') then return null; end if;
  select * into x from ${c}.onboarding_sessions where user_id = p_user and id = m.session_id;
  if not found then return 'session missing'; end if;
  -- The mirror stamps a session and its ledger row in one transaction
  -- (updated_at = synced_at); a later updated_at is new code's.
  if x.updated_at > m.synced_at then return null; end if;
  if (x.status, x.phase, x.progress::integer, x.goals, coalesce(x.context->'answers', '{}'))
     is distinct from (l.outcome, l.phase, l.progress, l.goals, l.answers) then
    return 'legacy fields changed without the mirror';
  end if;
  return null;
end
$fn$`;
}

/**
 * The mirror exactly as migration 2 (`onboarding-into-chatkeep`) created it,
 * copied rather than imported: migrations are frozen in time.
 */
function mirrorStatements(s: string): string[] {
  return [
    `create or replace function ${s}.users_onboarding_sync() returns trigger
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
    `drop trigger if exists users_onboarding_sync on ${s}.users`,
    `create trigger users_onboarding_sync
  after insert or update of onboarding_complete, onboarding_phase, onboarding_progress, onboarding_goals, onboarding_answers
  on ${s}.users for each row execute function ${s}.users_onboarding_sync()`,
  ];
}
