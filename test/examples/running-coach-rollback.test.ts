import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  COACH_FLOW,
  COACH_MIGRATIONS,
  coachMigrator,
  ONBOARDING_MOVED,
} from '../../examples/running-coach/migrations/index.js';
import { seedCoach } from '../../examples/running-coach/seed.js';
import { openStore, type Store } from '../../src/index.js';
import { fingerprint, lintMigration } from '../../src/migrate/index.js';
import { openAppDatabase } from '../support/app-database.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import { formatWriterReport, opsWithin, startSteadyLoop } from '../support/steady-writer.js';
import { hostUsers, type HostUser } from './support/running-coach-users.js';

const HOST = 'coach';
const USERS = 400;
const PHASES = ['motivation', 'assessment', 'creation', 'refinement'];

interface SessionRow {
  id: string;
  user_id: string;
  phase: string;
  progress: number;
  goals: unknown[];
  context: Record<string, unknown>;
  status: string;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

/** One user's onboarding as the legacy app understands it. */
interface OnboardingState {
  outcome: 'completed' | 'active';
  phase: string;
  progress: number;
  goals: unknown[];
  answers: unknown;
}

const runner = (i: number) => `runner-${String(i).padStart(6, '0')}`;

/** What the legacy fields say: a state, 'not-started', or 'corrupt' (the rules of migration 0002). */
function legacyState(u: HostUser): OnboardingState | 'not-started' | 'corrupt' {
  const parse = (text: string | null, list: boolean): unknown => {
    if (text === null) return list ? [] : {};
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) !== list || typeof value !== 'object' || value === null)
      throw new Error('shape');
    return value;
  };
  try {
    if (u.onboarding_phase !== null && ![...PHASES, 'complete'].includes(u.onboarding_phase))
      return 'corrupt';
    if (
      u.onboarding_progress !== null &&
      (u.onboarding_progress < 0 || u.onboarding_progress > 100)
    )
      return 'corrupt';
    const goals = parse(u.onboarding_goals, true) as unknown[];
    const answers = parse(u.onboarding_answers, false);
    if (u.onboarding_complete)
      return { outcome: 'completed', phase: 'complete', progress: 100, goals, answers };
    if (u.onboarding_phase === 'complete') return 'corrupt';
    if (u.onboarding_phase === null) {
      const empty =
        (u.onboarding_progress ?? 0) === 0 &&
        u.onboarding_goals === null &&
        u.onboarding_answers === null;
      return empty ? 'not-started' : 'corrupt';
    }
    const progress = u.onboarding_progress ?? 0;
    return { outcome: 'active', phase: u.onboarding_phase, progress, goals, answers };
  } catch {
    return 'corrupt';
  }
}

/** What a chatkeep session says, in the same terms (an abandoned session resumes in the legacy app). */
function sessionState(x: SessionRow): OnboardingState {
  const answers = x.context['answers'] ?? {};
  return x.status === 'completed'
    ? { outcome: 'completed', phase: 'complete', progress: 100, goals: x.goals, answers }
    : { outcome: 'active', phase: x.phase, progress: x.progress, goals: x.goals, answers };
}

/** The session a user is in now: the active one, else the one changed last. */
function currentSession(sessions: readonly SessionRow[]): SessionRow | undefined {
  return [...sessions].sort(
    (a, b) =>
      Number(b.status === 'active') - Number(a.status === 'active') ||
      new Date(b.updated_at).getTime() - new Date(a.updated_at).getTime(),
  )[0];
}

async function sessionsByUser(db: Kysely<any>): Promise<Map<string, SessionRow[]>> {
  const { rows } = await sql<SessionRow>`
    select id, user_id, phase, progress, goals, context, status, created_at, updated_at, completed_at
      from chatkeep.onboarding_sessions where flow = ${COACH_FLOW} order by user_id, created_at`.execute(
    db,
  );
  const byUser = new Map<string, SessionRow[]>();
  for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), r]);
  return byUser;
}

async function ledgerOutcomes(db: Kysely<any>): Promise<Map<string, string | null>> {
  const { rows } = await sql<{
    user_id: string;
    outcome: string | null;
  }>`select user_id, outcome from coach.onboarding_migration`.execute(db);
  return new Map(rows.map((r) => [r.user_id, r.outcome]));
}

async function mirrorInstalled(db: Kysely<any>): Promise<{ trigger: boolean; fn: boolean }> {
  const { rows } = await sql<{ trigger: boolean; fn: boolean }>`
    select exists (select 1 from pg_trigger where tgrelid = 'coach.users'::regclass and tgname = 'users_onboarding_sync') as trigger,
           to_regprocedure('coach.users_onboarding_sync()') is not null as fn`.execute(db);
  return rows[0]!;
}

async function activeSession(store: Store, user: string): Promise<string> {
  const session = await store.onboarding.active(user, COACH_FLOW);
  if (session === null) throw new Error(`${user} has no active ${COACH_FLOW} session`);
  return session.id;
}

/**
 * The end of the running coach's rollout and the way back (seed 000 AC4
 * "rollback capability"; issue 4). Migration 3 removes the mirror only when
 * chatkeep has every user's legacy onboarding, and its down re-syncs what
 * the old app wrote meanwhile; migration 2's down writes the progress new
 * code made back into the legacy fields, so going back loses nothing, while
 * corrupt rows stay byte-identical and the old app keeps writing.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: running coach — the mirror removed, and back to the legacy fields`,
    () => {
      let scratch: ScratchDatabase;
      useScratchDatabase(backend.name, (s) => (scratch = s));

      it(
        'migration 3 refuses while users disagree, then removes the mirror; down of 3 and of 2 lose no progress; up again rebuilds the same sessions',
        { timeout: 120_000 },
        async () => {
          const { db } = scratch.database;
          const migrator = coachMigrator(db, { schema: HOST });
          expect((await migrator.up({ to: 1 })).error).toBeUndefined();
          await seedCoach(db, HOST, { users: USERS });
          const store = await openStore({
            database: scratch.database,
            users: { table: 'coach.users', type: 'text' },
          });
          // New code already ran for one user before the move: a conflict, left alone throughout.
          const conflict = runner(8);
          const { session: conflictSession } = await store.onboarding.start(conflict, {
            flow: COACH_FLOW,
            phase: 'welcome',
          });
          const beforeUp = await hostUsers(db);
          const hostShapeBefore = await fingerprint(db, [HOST]);

          // Every shipped migration: no error-level lint finding, against the live sizes and with every table populated.
          await sql`analyze coach.users`.execute(db);
          for (const { report } of await migrator.lint({ direction: 'up' }))
            expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
          for (const migration of COACH_MIGRATIONS) {
            for (const direction of ['up', 'down'] as const) {
              const report = lintMigration(
                migration,
                { schema: HOST, settings: { chatkeepSchema: 'chatkeep' } },
                { tableRows: () => 1_000_000, direction },
              );
              expect(
                report.findings.filter((f) => f.severity === 'error'),
                `${migration.version} ${direction}`,
              ).toEqual([]);
            }
          }

          // The move (migration 2): sessions, and the mirror.
          expect((await migrator.up({ to: ONBOARDING_MOVED })).error).toBeUndefined();
          const movedShape = await fingerprint(db, [HOST]);

          // New code moves users on through chatkeep's store.
          const advanced = runner(9); // active → phase, progress and goals changed
          const completed = runner(10); // active → completed by new code
          const goalsOnly = runner(11); // active → goals changed
          const abandoned = runner(12); // active → abandoned (the legacy app resumes it)
          const restarted = runner(21); // completed in legacy → starts anew in new code
          const started = runner(14); // not started → started and moved on
          const finished = runner(15); // not started → started and completed
          const unknownPhase = runner(16); // not started → a phase the legacy app does not know
          const mirrored = runner(13); // the old app still writes it (mirrored)
          const [drift1, drift2] = [runner(29), runner(30)]; // written while the mirror was disabled
          const rolledBack = runner(31); // written by the old app after the mirror is gone
          const signupDuring = 'signup-during-rollout';
          const signupAfter = 'signup-after-mirror';

          await store.onboarding.advance(advanced, await activeSession(store, advanced), {
            phase: 'refinement',
            progress: 90,
            goals: ['run a half marathon'],
          });
          await store.onboarding.complete(completed, await activeSession(store, completed));
          await store.onboarding.advance(goalsOnly, await activeSession(store, goalsOnly), {
            goals: ['run a 10k', 'stay injury-free'],
          });
          await store.onboarding.abandon(abandoned, await activeSession(store, abandoned));
          await store.onboarding.start(restarted, {
            flow: COACH_FLOW,
            phase: 'motivation',
            progress: 5,
            goals: ['a marathon next'],
          });
          const { session: s1 } = await store.onboarding.start(started, {
            flow: COACH_FLOW,
            phase: 'motivation',
            context: { answers: { experience: 'beginner' } },
          });
          await store.onboarding.advance(started, s1.id, {
            phase: 'assessment',
            progress: 30,
            goals: ['first 5k'],
          });
          const { session: s2 } = await store.onboarding.start(finished, {
            flow: COACH_FLOW,
            phase: 'motivation',
          });
          await store.onboarding.complete(finished, s2.id);
          const { session: s3 } = await store.onboarding.start(unknownPhase, {
            flow: COACH_FLOW,
            phase: 'welcome',
          });
          await sql`update coach.users set onboarding_phase = 'creation', onboarding_progress = 55 where id = ${mirrored}`.execute(
            db,
          );
          await sql`insert into coach.users (id, email, display_name) values (${signupDuring}, 'during@example.com', 'New runner')`.execute(
            db,
          );
          await store.onboarding.start(signupDuring, {
            flow: COACH_FLOW,
            phase: 'motivation',
            progress: 10,
          });

          // Legacy writes that bypass the mirror (a bulk fix with the trigger disabled).
          await sql`alter table coach.users disable trigger users_onboarding_sync`.execute(db);
          await sql`update coach.users set onboarding_phase = 'refinement', onboarding_progress = 80 where id in (${drift1}, ${drift2})`.execute(
            db,
          );
          await sql`alter table coach.users enable trigger users_onboarding_sync`.execute(db);

          // Migration 3 refuses: chatkeep lacks those two users' legacy state.
          const refused = await migrator.up();
          expect(refused.error?.message).toMatch(
            /Refused: 2 of \d+ users' legacy onboarding is not in chatkeep \(2: legacy fields changed without the mirror; e\.g\. runner-000029, runner-000030\)/,
          );
          expect(await mirrorInstalled(db)).toEqual({ trigger: true, fn: true });
          // The support person's query, from the message, lists them all.
          const { rows: listed } = await sql<{
            id: string;
          }>`select id from coach.users where coach.onboarding_mirror_disagreement(id) is not null order by id`.execute(
            db,
          );
          expect(listed.map((r) => r.id)).toEqual([drift1, drift2]);
          // Going back instead is possible too: the refused 3 is in flight, and down to 2
          // undoes it with its down, which leaves the mirror exactly as 2 installed it.
          expect((await migrator.status()).inFlight).toMatchObject([{ version: 3, direction: 'up' }]);
          const undone3 = await migrator.down({ to: ONBOARDING_MOVED });
          expect(undone3.error).toBeUndefined();
          expect(undone3.results.map((r) => [r.version, r.status, r.inFlightUp])).toEqual([[3, 'reverted', true]]);
          expect((await fingerprint(db, [HOST])).lines).toEqual(movedShape.lines);
          expect((await migrator.status()).inFlight).toEqual([]);
          expect(await mirrorInstalled(db)).toEqual({ trigger: true, fn: true });
          // The fix the message names: re-save their legacy fields, the mirror syncs them.
          await sql`update coach.users set onboarding_phase = onboarding_phase where id in (${drift1}, ${drift2})`.execute(
            db,
          );
          const finishedUp = await migrator.up();
          expect(finishedUp.error).toBeUndefined();
          expect(await mirrorInstalled(db)).toEqual({ trigger: false, fn: false });
          const { rows: legacyColumns } = await sql<{ n: number }>`
            select count(*)::int as n from information_schema.columns
             where table_schema = 'coach' and table_name = 'users' and column_name like 'onboarding%'`.execute(
            db,
          );
          expect(legacyColumns[0]!.n).toBe(6);
          for (const { report } of await migrator.lint({ direction: 'down', to: 1 }))
            expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);

          // The mirror is gone: new code goes on, a user signs up, and the old app (rolled back) writes one user.
          await store.onboarding.advance(advanced, await activeSession(store, advanced), {
            progress: 95,
          });
          await sql`insert into coach.users (id, email, display_name) values (${signupAfter}, 'after@example.com', 'Newer runner')`.execute(
            db,
          );
          await store.onboarding.start(signupAfter, {
            flow: COACH_FLOW,
            phase: 'assessment',
            progress: 20,
            goals: ['sub-30 5k'],
          });
          await sql`update coach.users set onboarding_phase = 'refinement', onboarding_progress = 85 where id = ${rolledBack}`.execute(
            db,
          );

          // Down of 3: the mirror exactly as 2 installed it, and what was written meanwhile synced.
          expect((await migrator.down({ to: ONBOARDING_MOVED })).error).toBeUndefined();
          expect((await fingerprint(db, [HOST])).lines).toEqual(movedShape.lines);
          let sessions = await sessionsByUser(db);
          const ledger = await ledgerOutcomes(db);
          expect(sessionState(currentSession(sessions.get(rolledBack)!)!)).toMatchObject({
            phase: 'refinement',
            progress: 85,
          });
          expect(sessionState(currentSession(sessions.get(advanced)!)!)).toMatchObject({
            phase: 'refinement',
            progress: 95, // new code's, not the stale legacy fields'
          });
          expect(ledger.get(signupAfter)).toBe('not-started');

          // Down of 2 refuses, changing nothing, while a session has no legacy form.
          const sessionsBeforeRefusal = await sessionsByUser(db);
          const blocked = await migrator.down({ to: 1 });
          expect(blocked.error?.message).toMatch(
            /Refused: 1 users' onboarding in chatkeep has no legacy form, e\.g\. runner-000016 \(phase 'welcome' is not one the legacy app knows\)\. Nothing was changed/,
          );
          const status = await migrator.status();
          expect([status.current, status.inFlight]).toEqual([ONBOARDING_MOVED, []]);
          expect(await sessionsByUser(db)).toEqual(sessionsBeforeRefusal);
          await store.onboarding.advance(unknownPhase, s3.id, {
            phase: 'motivation',
            progress: 15,
          });

          // The state down must keep: each user's current session, before it goes.
          sessions = await sessionsByUser(db);
          const beforeDown = await hostUsers(db);
          const expected = new Map<string, OnboardingState>();
          for (const [user, rows] of sessions)
            if (user !== conflict) expected.set(user, sessionState(currentSession(rows)!));
          expect(expected.get(abandoned)).toMatchObject({ outcome: 'active' });
          expect(expected.get(restarted)).toMatchObject({ phase: 'motivation', progress: 5 });

          // The old app is back and writes during down: none of its writes may be lost.
          const app = await openAppDatabase(scratch);
          const writable = [...beforeDown.values()]
            .filter((u) => legacyState(u) !== 'corrupt' && u.onboarding_phase !== null)
            .filter((u) => !u.onboarding_complete && Number(u.id.slice(7)) >= 100)
            .map((u) => u.id);
          const lastWrite = new Map<string, { phase: string; progress: number }>();
          const oldApp = startSteadyLoop(
            async (i) => {
              const id = writable[i % writable.length]!;
              const phase = PHASES[i % PHASES.length]!;
              const { rows } = await sql<{ onboarding_progress: number }>`
                update coach.users set onboarding_phase = ${phase}, onboarding_progress = ${i % 100}
                 where id = ${id} returning onboarding_progress`.execute(app.db);
              lastWrite.set(id, { phase, progress: rows[0]!.onboarding_progress });
            },
            { intervalMs: 3 },
          );
          await new Promise((resolve) => setTimeout(resolve, 30));
          const downStarted = performance.now();
          const down = await migrator.down({ to: 1 });
          const downEnded = performance.now();
          const oldAppReport = await oldApp.stop();
          const inside = opsWithin(oldAppReport, downStarted, downEnded);
          console.log(
            formatWriterReport(
              `running-coach ${backend.name} old app, down ${Math.round(downEnded - downStarted)} ms, ${inside} writes inside it`,
              oldAppReport,
            ),
          );
          expect(down.error).toBeUndefined();
          expect(oldAppReport.errors).toEqual([]);
          expect(oldAppReport.turns).toBeGreaterThan(0);
          // On PostgreSQL the old app writes while down runs (PGlite, one session, serialises them).
          if (backend.name === 'postgres') expect(inside).toBeGreaterThan(10);

          // Every user's legacy fields now hold their latest state.
          const afterDown = await hostUsers(db);
          expect((await fingerprint(db, [HOST])).hash).toBe(hostShapeBefore.hash);
          const legacyAfter = (id: string) => legacyState(afterDown.get(id)!);
          for (const [id, state] of expected) {
            const write = lastWrite.get(id);
            expect({ id, state: legacyAfter(id) }).toEqual({
              id,
              state: write === undefined ? state : { ...state, ...write },
            });
          }
          expect(legacyAfter(advanced)).toEqual({
            outcome: 'active',
            phase: 'refinement',
            progress: 95,
            goals: ['run a half marathon'],
            answers: expect.any(Object),
          });
          expect(afterDown.get(completed)).toMatchObject({
            onboarding_complete: true,
            onboarding_phase: 'complete',
            onboarding_progress: 100,
          });
          expect(afterDown.get(completed)!.onboarding_completed_at).not.toBeNull();
          expect(legacyAfter(started)).toEqual({
            outcome: 'active',
            phase: 'assessment',
            progress: 30,
            goals: ['first 5k'],
            answers: { experience: 'beginner' },
          });
          expect(legacyAfter(finished)).toMatchObject({ outcome: 'completed' });
          expect(legacyAfter(signupDuring)).toMatchObject({ phase: 'motivation', progress: 10 });
          expect(legacyAfter(signupAfter)).toMatchObject({ phase: 'assessment', progress: 20 });
          expect(legacyAfter(unknownPhase)).toMatchObject({ phase: 'motivation', progress: 15 });
          // Rows nobody moved on, corrupt rows and the conflict user's are byte-identical to before the move.
          const movedOn = new Set([
            advanced,
            completed,
            goalsOnly,
            abandoned,
            restarted,
            started,
            finished,
            unknownPhase,
            mirrored,
            drift1,
            drift2,
            rolledBack,
            ...lastWrite.keys(),
          ]);
          let identical = 0;
          for (const [id, before] of beforeUp) {
            if (movedOn.has(id)) continue;
            expect({ id, json: afterDown.get(id)!.json }).toEqual({ id, json: before.json });
            identical++;
          }
          expect(identical).toBeGreaterThan(USERS / 2);
          const corrupt = [...beforeUp.values()].filter((u) => legacyState(u) === 'corrupt');
          expect(corrupt.length).toBe(USERS / 10);
          for (const u of corrupt) expect(afterDown.get(u.id)!.json).toBe(u.json);
          // In chatkeep only new code's own session from before the move is left.
          const left = await sessionsByUser(db);
          expect([...left.keys()]).toEqual([conflict]);
          expect(left.get(conflict)!.map((x) => x.id)).toEqual([conflictSession.id]);

          // Up again: the sessions say what they said before down.
          expect((await migrator.up({ to: ONBOARDING_MOVED })).error).toBeUndefined();
          const again = await sessionsByUser(db);
          for (const [id, state] of expected) {
            const write = lastWrite.get(id);
            expect({ id, state: sessionState(currentSession(again.get(id)!)!) }).toEqual({
              id,
              state: write === undefined ? state : { ...state, ...write },
            });
          }
          expect(again.get(conflict)!.map((x) => x.id)).toEqual([conflictSession.id]);
          const againLedger = await ledgerOutcomes(db);
          expect(againLedger.get(conflict)).toBe('conflict');
          expect([...againLedger.values()].filter((o) => o === 'error')).toEqual([]);

          await app.close();
          await store.close();
        },
      );
    },
  );
}
