import { sql, type Kysely } from 'kysely';

/** A host user as the old app left it: its legacy onboarding columns, possibly corrupt. */
export interface LegacyUser {
  readonly id: string;
  readonly email: string;
  readonly display_name: string;
  readonly created_at: Date;
  readonly onboarding_complete: boolean;
  readonly onboarding_phase: string | null;
  readonly onboarding_progress: number | null;
  readonly onboarding_goals: string | null;
  readonly onboarding_answers: string | null;
  readonly onboarding_completed_at: Date | null;
}

const PHASES = ['motivation', 'assessment', 'creation', 'refinement'] as const;
const EPOCH = Date.UTC(2025, 0, 1);

/**
 * The corrupt rows real legacy data has (seed 000 AC5, "corrupted or invalid
 * data"); the seed gives every tenth user pair one of them, in turn.
 */
export const CORRUPTIONS = [
  'goals are not valid JSON',
  'unknown phase',
  'negative progress',
  'goals are not a list',
  'answers are not valid JSON',
  'phase complete without the completed flag',
  'progress without a phase',
  'progress above 100',
] as const;

/**
 * The i-th demo user, deterministic: 40 % completed onboarding, 30 % stopped
 * half-way (each phase in turn), 20 % never started, 10 % corrupt (each of
 * {@link CORRUPTIONS} in turn).
 */
export function legacyUser(i: number): LegacyUser {
  const id = `runner-${String(i).padStart(6, '0')}`;
  const created = new Date(EPOCH + i * 60_000);
  const base = {
    id,
    email: `${id}@example.com`,
    display_name: `Runner ${i}`,
    created_at: created,
    onboarding_complete: false,
    onboarding_phase: null,
    onboarding_progress: null,
    onboarding_goals: null,
    onboarding_answers: null,
    onboarding_completed_at: null,
  };
  const goals = JSON.stringify(
    i % 3 === 0 ? ['run a 5k'] : ['run a 10k', `sub-${40 + (i % 20)} minutes`],
  );
  const answers = JSON.stringify({
    experience: ['beginner', 'intermediate', 'advanced'][i % 3],
    daysPerWeek: 2 + (i % 4),
  });
  const slot = i % 20;
  if (slot < 8) {
    return {
      ...base,
      onboarding_complete: true,
      // The old app sometimes left the last phase it showed, or no progress, on completed users.
      onboarding_phase: i % 5 === 0 ? 'refinement' : 'complete',
      onboarding_progress: i % 7 === 0 ? null : 100,
      onboarding_goals: goals,
      onboarding_answers: answers,
      onboarding_completed_at: i % 8 === 0 ? null : new Date(created.getTime() + 86_400_000),
    };
  }
  if (slot < 14) {
    return {
      ...base,
      onboarding_phase: PHASES[i % 4]!,
      onboarding_progress: 5 + ((i * 7) % 90),
      onboarding_goals: i % 4 === 0 ? null : goals,
      onboarding_answers: answers,
    };
  }
  if (slot < 18) return base;
  const kind = CORRUPTIONS[(Math.floor(i / 20) * 2 + slot - 18) % CORRUPTIONS.length]!;
  const half = {
    ...base,
    onboarding_phase: 'assessment',
    onboarding_progress: 40,
    onboarding_goals: goals,
    onboarding_answers: answers,
  };
  switch (kind) {
    case 'goals are not valid JSON':
      return { ...half, onboarding_goals: '["run a 5k", "sub-25"' };
    case 'unknown phase':
      return { ...half, onboarding_phase: 'warmup' };
    case 'negative progress':
      return { ...half, onboarding_progress: -20 };
    case 'goals are not a list':
      return { ...half, onboarding_goals: '{"goal": "marathon"}' };
    case 'answers are not valid JSON':
      return { ...half, onboarding_answers: 'days=3;level=beginner' };
    case 'phase complete without the completed flag':
      return { ...half, onboarding_phase: 'complete', onboarding_progress: 100 };
    case 'progress without a phase':
      return { ...half, onboarding_phase: null };
    case 'progress above 100':
      return { ...half, onboarding_progress: 180 };
  }
}

/**
 * Inserts users `1..count` as the old app would have left them (the host
 * owns its tables); running it again changes nothing.
 *
 * @example
 * await seedCoach(db, 'coach', { users: 3000 });
 */
export async function seedCoach(
  db: Kysely<any>,
  schema: string,
  options: { readonly users?: number } = {},
): Promise<void> {
  const count = options.users ?? 3000;
  for (let from = 1; from <= count; from += 500) {
    const rows = Array.from({ length: Math.min(500, count - from + 1) }, (_, k) =>
      legacyUser(from + k),
    );
    await db
      .withSchema(schema)
      .insertInto('users')
      .values(rows.map((r) => ({ ...r })))
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }
  await sql`analyze ${sql.id(schema, 'users')}`.execute(db);
}
