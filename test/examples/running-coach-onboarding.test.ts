import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  COACH_FLOW,
  coachMigrator,
  ONBOARDING_MOVED,
} from '../../examples/running-coach/migrations/index.js';
import {
  formatOnboardingReport,
  onboardingMigrationReport,
} from '../../examples/running-coach/onboarding-report.js';
import { seedCoach } from '../../examples/running-coach/seed.js';
import { openStore } from '../../src/index.js';
import { fingerprint } from '../../src/migrate/index.js';
import { openAppDatabase } from '../support/app-database.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import {
  formatWriterReport,
  opsWithin,
  startSteadyLoop,
  startSteadyWriter,
} from '../support/steady-writer.js';
import { hostUsers, type HostUser } from './support/running-coach-users.js';

const HOST = 'coach';
const USERS = 3000;
const PHASES = ['motivation', 'assessment', 'creation', 'refinement'];

type Expected =
  | {
      outcome: 'completed' | 'active';
      phase: string;
      progress: number;
      goals: unknown[];
      answers: Record<string, unknown>;
    }
  | { outcome: 'not-started' }
  | { outcome: 'corrupt'; reason: string };

/**
 * The migration's rules written a second time, in TypeScript, from
 * migration 0002's documentation: the test's oracle. Every user's outcome
 * must agree with it.
 */
function expectedFor(u: HostUser): Expected {
  const parse = (text: string | null, what: string, type: 'array' | 'object'): unknown => {
    if (text === null) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw `${what} are not valid JSON`;
    }
    const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
    if (actual !== type)
      throw `${what} are a JSON ${actual}, not ${type === 'array' ? 'a list' : 'an object'}`;
    return value;
  };
  try {
    if (u.onboarding_phase !== null && ![...PHASES, 'complete'].includes(u.onboarding_phase))
      throw `unknown phase '${u.onboarding_phase}'`;
    if (
      u.onboarding_progress !== null &&
      (u.onboarding_progress < 0 || u.onboarding_progress > 100)
    ) {
      throw `progress ${u.onboarding_progress} is outside 0-100`;
    }
    const goals = (parse(u.onboarding_goals, 'goals', 'array') ?? []) as unknown[];
    const answers = (parse(u.onboarding_answers, 'answers', 'object') ?? {}) as Record<
      string,
      unknown
    >;
    if (u.onboarding_complete)
      return { outcome: 'completed', phase: 'complete', progress: 100, goals, answers };
    if (u.onboarding_phase === 'complete')
      throw 'phase is complete but onboarding_complete is false';
    if (u.onboarding_phase === null) {
      if (
        (u.onboarding_progress ?? 0) === 0 &&
        u.onboarding_goals === null &&
        u.onboarding_answers === null
      )
        return { outcome: 'not-started' };
      throw 'progress, goals or answers without a phase';
    }
    return {
      outcome: 'active',
      phase: u.onboarding_phase,
      progress: u.onboarding_progress ?? 0,
      goals,
      answers,
    };
  } catch (reason) {
    if (typeof reason !== 'string') throw reason;
    return { outcome: 'corrupt', reason };
  }
}

/**
 * Seed 000 / SPEC R-ONB-3 (issue 4, scenario 1): the running coach's users,
 * with completed, half-finished and corrupt legacy onboarding, move into
 * chatkeep's onboarding sessions while the app keeps running — a writer
 * appending chat turns and the old app writing its users — with zero errors;
 * corrupt users are kept and reported; down restores the state before.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: running coach — legacy onboarding into chatkeep, online`,
    () => {
      let scratch: ScratchDatabase;
      useScratchDatabase(backend.name, (s) => (scratch = s));

      it(
        'every user gets the right session or a reported reason; the app sees no error; down restores the state before',
        { timeout: 90_000 },
        async () => {
          const { db } = scratch.database;
          const migrator = coachMigrator(db, { schema: HOST });
          expect((await migrator.up({ to: 1 })).error).toBeUndefined();
          await seedCoach(db, HOST, { users: USERS });
          await sql`insert into coach.users (id, email, display_name) values ('steady-writer', 'writer@example.com', 'Writer')`.execute(
            db,
          );
          const store = await openStore({
            database: scratch.database,
            users: { table: 'coach.users', type: 'text' },
          });
          // New code already running for one user: a session it started must win over the legacy state.
          const newCode = 'runner-000008';
          const { session: newCodeSession } = await store.onboarding.start(newCode, {
            flow: COACH_FLOW,
            phase: 'welcome',
          });
          const beforeUp = await hostUsers(db);
          const hostShapeBefore = await fingerprint(db, [HOST]);

          // Lint, against the live table sizes: nothing error-level in up or down.
          await sql`analyze coach.users`.execute(db);
          for (const { report } of await migrator.lint({ direction: 'up' })) {
            expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
          }

          // The application: chat turns through chatkeep, and the old app's own writes.
          const app = await openAppDatabase(scratch);
          const appStore = await openStore({ database: app, migrate: false });
          const turns = await startSteadyWriter(appStore, { intervalMs: 5 });
          const advancing = [...beforeUp.values()]
            .filter((u) => expectedFor(u).outcome === 'active' && u.id !== newCode)
            .map((u) => u.id);
          const touched = new Set<string>();
          const signups: string[] = [];
          const host = startSteadyLoop(
            async (i) => {
              if (i % 3 === 0) {
                // A new user signs up (the trigger must give them a ledger row).
                const id = `signup-${backend.name}-${i}`;
                await sql`insert into coach.users (id, email, display_name) values (${id}, ${`${id}@example.com`}, 'New runner')`.execute(
                  app.db,
                );
                signups.push(id);
                touched.add(id);
              } else if (i % 3 === 1) {
                // A half-way user moves on a phase, or finishes.
                const id = advancing[i % advancing.length]!;
                await sql`
            update coach.users set
              onboarding_complete = onboarding_phase = 'refinement',
              onboarding_completed_at = case when onboarding_phase = 'refinement' then now() end,
              onboarding_phase = case onboarding_phase when 'motivation' then 'assessment' when 'assessment' then 'creation'
                                   when 'creation' then 'refinement' else 'complete' end,
              onboarding_progress = least(100, onboarding_progress + 10)
            where id = ${id} and not onboarding_complete`.execute(app.db);
                touched.add(id);
              } else if (signups.length > 0) {
                // A new user starts onboarding in the old app.
                const id = signups[i % signups.length]!;
                await sql`update coach.users set onboarding_phase = 'motivation', onboarding_progress = 0,
                      onboarding_goals = '["first 5k"]', onboarding_answers = '{"experience": "beginner"}'
                    where id = ${id} and onboarding_phase is null`.execute(app.db);
              }
            },
            { intervalMs: 5 },
          );

          await new Promise((resolve) => setTimeout(resolve, 50));
          const upStarted = performance.now();
          const up = await migrator.up({ to: ONBOARDING_MOVED }); // migration 3 ends the rollout: not yet
          const upEnded = performance.now();
          await new Promise((resolve) => setTimeout(resolve, 200)); // the app keeps writing after it, through the sync trigger
          const [turnReport, hostReport] = [await turns.stop(), await host.stop()];
          const window = `up ${Math.round(upEnded - upStarted)} ms`;
          console.log(
            formatWriterReport(
              `running-coach ${backend.name} chat writer, ${window}, ${opsWithin(turnReport, upStarted, upEnded)} turns inside it`,
              turnReport,
            ),
          );
          console.log(
            formatWriterReport(
              `running-coach ${backend.name} host writer, ${window}, ${opsWithin(hostReport, upStarted, upEnded)} writes inside it`,
              hostReport,
            ),
          );
          expect(up.error).toBeUndefined();
          expect(turnReport.errors).toEqual([]);
          expect(hostReport.errors).toEqual([]);
          expect(turnReport.turns).toBeGreaterThan(5);
          expect(hostReport.turns).toBeGreaterThan(5);
          // On PostgreSQL the app is served while the migration runs (PGlite, one session, serialises it).
          if (backend.name === 'postgres') {
            expect(opsWithin(turnReport, upStarted, upEnded)).toBeGreaterThan(0);
            expect(opsWithin(hostReport, upStarted, upEnded)).toBeGreaterThan(0);
          }
          const { rows: chat } = await sql<{ n: number; pairs: number }>`
        select count(*)::int as n, count(distinct turn_id)::int as pairs from chatkeep.messages where user_id = 'steady-writer'`.execute(
            db,
          );
          expect(chat[0]).toEqual({ n: turnReport.turns * 2, pairs: turnReport.turns });

          // Every user, against the oracle.
          const after = await hostUsers(db);
          const { rows: ledgerRows } = await sql<{
            user_id: string;
            outcome: string;
            reason: string | null;
            session_id: string | null;
          }>`
        select user_id, outcome, reason, session_id from coach.onboarding_migration`.execute(db);
          const ledger = new Map(ledgerRows.map((l) => [l.user_id, l]));
          const { rows: sessionRows } = await sql<{
            user_id: string;
            id: string;
            phase: string;
            progress: number;
            goals: unknown[];
            context: Record<string, unknown>;
            status: string;
            completed_at: Date | null;
          }>`select user_id, id, phase, progress, goals, context, status, completed_at
           from chatkeep.onboarding_sessions where flow = ${COACH_FLOW}`.execute(db);
          const sessions = new Map(sessionRows.map((s) => [s.id, s]));
          expect(ledger.size).toBe(after.size);
          let migrated = 0;
          for (const user of after.values()) {
            const entry = ledger.get(user.id)!;
            const expected = expectedFor(user);
            if (user.id === newCode) {
              expect(entry.outcome).toBe('conflict');
              expect(sessions.get(newCodeSession.id)).toMatchObject({
                phase: 'welcome',
                status: 'active',
              });
              continue;
            }
            expect({ user: user.id, outcome: entry.outcome }).toEqual({
              user: user.id,
              outcome: expected.outcome,
            });
            if (expected.outcome === 'corrupt') {
              expect(entry.reason).toBe(expected.reason);
              expect(entry.session_id).toBeNull();
              // Kept: the host row is exactly as it was.
              expect(user.json).toBe(beforeUp.get(user.id)!.json);
            } else if (expected.outcome === 'completed' || expected.outcome === 'active') {
              migrated++;
              const session = sessions.get(entry.session_id!)!;
              expect(session).toMatchObject({
                user_id: user.id,
                phase: expected.phase,
                progress: expected.progress,
                goals: expected.goals,
                status: expected.outcome,
              });
              expect(session.context['answers']).toEqual(expected.answers);
              if (expected.outcome === 'completed' && user.onboarding_completed_at !== null) {
                expect(new Date(session.completed_at!).getTime()).toBe(
                  new Date(user.onboarding_completed_at).getTime(),
                );
              }
            } else {
              expect(entry.session_id).toBeNull();
            }
          }
          expect(sessions.size).toBe(migrated + 1);
          // The migration never writes the host's users: rows the app did not touch are byte-identical.
          for (const [id, before] of beforeUp)
            if (!touched.has(id)) expect(after.get(id)!.json).toBe(before.json);

          const report = await onboardingMigrationReport(db, HOST);
          console.log(formatOnboardingReport(report, 10));
          expect(report.issues.filter((i) => i.outcome === 'corrupt').length).toBe(
            [...after.values()].filter((u) => expectedFor(u).outcome === 'corrupt').length,
          );
          expect(
            report.issues.filter((i) => i.outcome === 'corrupt').length,
          ).toBeGreaterThanOrEqual(USERS / 10 - 1);
          expect(report.issues.find((i) => i.userId === newCode)?.outcome).toBe('conflict');
          expect(report.outcomes['error']).toBeUndefined();

          // Down: lint-clean, then exactly the state before up — host schema, host rows, chatkeep's sessions.
          for (const { report: down } of await migrator.lint({ direction: 'down', to: 1 })) {
            expect(down.findings.filter((f) => f.severity === 'error')).toEqual([]);
          }
          const beforeDown = await hostUsers(db);
          const reverted = await migrator.down({ to: 1 });
          expect(reverted.error).toBeUndefined();
          expect((await fingerprint(db, [HOST])).hash).toBe(hostShapeBefore.hash);
          const afterDown = await hostUsers(db);
          expect([...afterDown.values()].map((u) => u.json)).toEqual(
            [...beforeDown.values()].map((u) => u.json),
          );
          const { rows: left } = await sql<{
            id: string;
          }>`select id from chatkeep.onboarding_sessions`.execute(db);
          expect(left.map((r) => r.id)).toEqual([newCodeSession.id]);

          await appStore.close();
          await app.close();
          await store.close();
        },
      );
    },
  );
}
