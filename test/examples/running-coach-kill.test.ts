import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { coachMigrator, ONBOARDING_MOVED } from '../../examples/running-coach/migrations/index.js';
import { seedCoach } from '../../examples/running-coach/seed.js';
import { openDatabase, openStore } from '../../src/index.js';
import { BACKENDS, processTarget } from '../support/backends.js';
import { killAfter, runScript } from '../support/child-runner.js';

const HOST_SCRIPT = fileURLToPath(new URL('../../examples/running-coach/host.ts', import.meta.url));
const USERS = 4000;
const KILLS = 5;
/**
 * The first four runs' backfill is throttled so that their kills land before
 * it can finish: such a run is killed at most 700 ms after its first phase
 * starts, which at 600 users/s (plus one unthrottled batch of 200) is at
 * most ~620 users a run, ~2,200 over four — fewer than the 4,000 users.
 */
const KILLED_RATE = 600;

/** Everything migration 2 leaves behind that must not depend on how often it was interrupted. */
async function endState(db: Kysely<any>): Promise<Record<string, unknown[]>> {
  const rows = async (query: ReturnType<typeof sql>) =>
    (await query.execute(db)).rows.map((r) => JSON.stringify(r));
  return {
    legacy: await rows(sql`select to_jsonb(u) as u from coach.users u order by u.id`),
    ledger: await rows(sql`
      select user_id, outcome, reason, session_id is not null as has_session
        from coach.onboarding_migration order by user_id`),
    issues: await rows(sql`
      select user_id, outcome, reason from coach.onboarding_migration_issues order by user_id`),
    // A session's id, updated_at, and completed_at when the legacy row had none (now()) differ per run.
    sessions: await rows(sql`
      select x.user_id, x.flow, x.phase, x.progress, x.goals, x.steps, x.context, x.status,
             x.conversation_id, x.created_at, x.abandoned_at,
             case when x.context ? 'completedAtUnknown' then (x.completed_at is not null)::text else x.completed_at::text end as completed
        from chatkeep.onboarding_sessions x order by x.user_id, x.flow`),
    // Each migrated user's ledger row names their one session: nothing duplicated, nothing orphaned.
    unmatched: await rows(sql`
      select m.user_id from coach.onboarding_migration m
       where (m.session_id is not null) <> exists (select 1 from chatkeep.onboarding_sessions x where x.user_id = m.user_id and x.id = m.session_id)
      union all
      select x.user_id from chatkeep.onboarding_sessions x
       where not exists (select 1 from coach.onboarding_migration m where m.session_id = x.id)`),
  };
}

/** The running coach's app before chatkeep, with chatkeep installed beside it (`host.ts setup`). */
async function setUp(url: string): Promise<void> {
  const database = await openDatabase({ url });
  try {
    expect((await coachMigrator(database.db).up({ to: 1 })).error).toBeUndefined();
    await seedCoach(database.db, 'coach', { users: USERS });
    const store = await openStore({ database, users: { table: 'coach.users', type: 'text' } });
    await store.close();
  } finally {
    await database.close();
  }
}

/**
 * Issue 4: kill -9 at random points, resume, nothing lost — for the running
 * coach's own migration 2, run as the walkthrough runs it (`host.ts
 * migrate`) in a child process on PostgreSQL. Each kill lands somewhere in
 * the migration's phases or between backfill batches; the next run resumes.
 * The end state must equal an uninterrupted run's on a second database.
 */
describe.skipIf(BACKENDS.find((b) => b.name === 'postgres')!.skip)(
  'postgres: running coach — kill -9 during migration 2',
  () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const cleanup of cleanups) await cleanup();
    });

    it(
      `killed ${KILLS} times at random moments and resumed each time, it ends exactly like an uninterrupted run`,
      { timeout: 90_000 },
      async () => {
        const started = performance.now();
        const [killedUrl, controlUrl] = [
          await processTarget('postgres', cleanups),
          await processTarget('postgres', cleanups),
        ];
        await Promise.all([setUp(killedUrl), setUp(controlUrl)]);

        const killed = await openDatabase({ url: killedUrl });
        const control = await openDatabase({ url: controlUrl });
        try {
          const migrator = coachMigrator(killed.db);
          const interrupted: string[] = [];
          for (let kill = 0; kill < KILLS; kill++) {
            // The first run dies within its first phases, the middle ones somewhere in the
            // throttled backfill; the last finishes the backfill and dies among the verifications.
            const last = kill === KILLS - 1;
            const run = runScript(HOST_SCRIPT, [
              'migrate',
              '--database-url',
              killedUrl,
              ...(last ? [] : ['--rows-per-second', String(KILLED_RATE)]),
            ]);
            await killAfter(
              run,
              last ? 'phase 5/7' : 'phase ',
              kill === 0 ? { jitter: 250 } : last ? { jitter: 40 } : { min: 100, jitter: 600 },
            );
            expect(await run.exited, run.output()).toBeNull(); // killed by the signal, not finished
            const status = await migrator.status();
            const inFlight = status.inFlight.find((f) => f.version === ONBOARDING_MOVED);
            if (status.current === ONBOARDING_MOVED) {
              // Only the last kill may come after the migration was recorded (then nothing is left to resume).
              expect(last, interrupted.join('; ')).toBe(true);
              interrupted.push('after it was recorded');
            } else {
              interrupted.push(
                inFlight === undefined
                  ? 'before phase 1 committed'
                  : `after ${inFlight.phasesDone} phases, ${inFlight.rowsDone} users`,
              );
            }
          }
          const resumed = runScript(HOST_SCRIPT, ['migrate', '--database-url', killedUrl]);
          expect(await resumed.exited, resumed.output()).toBe(0);
          expect(resumed.output()).toContain('Legacy onboarding → chatkeep, users per outcome:');

          expect(
            (await coachMigrator(control.db).up({ to: ONBOARDING_MOVED })).error,
          ).toBeUndefined();
          const status = await migrator.status();
          expect([status.current, status.inFlight, status.problems]).toEqual([
            ONBOARDING_MOVED,
            [],
            [],
          ]);
          const [afterKills, uninterrupted] = [
            await endState(killed.db),
            await endState(control.db),
          ];
          expect(afterKills['unmatched']).toEqual([]);
          expect(afterKills['ledger']!.length).toBe(USERS);
          expect(afterKills['issues']!.length).toBe(USERS / 10);
          expect(afterKills).toEqual(uninterrupted);
          // At least one kill hit the backfill between batches, with users on both sides of it.
          expect(
            interrupted.some(
              (s) => /, ([1-9]\d*) users$/.exec(s) !== null && !s.endsWith(`${USERS} users`),
            ),
            interrupted.join('; '),
          ).toBe(true);
          console.log(
            `running-coach kill -9: ${USERS} users, ${KILLS} kills (${interrupted.join('; ')}), resumed; ` +
              `end state identical to an uninterrupted run; ${Math.round(performance.now() - started)} ms`,
          );
        } finally {
          await killed.close();
          await control.close();
        }
      },
    );
  },
);
