import { sql, type Kysely } from 'kysely';
import type { LegacyUser } from '../../../examples/running-coach/seed.js';

/**
 * One row of the running coach's `coach.users` (examples/running-coach) as
 * the tests compare it before and after `up` and `down`: the id and the
 * legacy onboarding columns migration 0002 moves into chatkeep.
 */
export type HostUser = Pick<LegacyUser, 'id' | `onboarding_${'complete' | 'phase' | 'progress' | 'goals' | 'answers' | 'completed_at'}`>;

/**
 * Every host user by id, with the whole row as JSON text (`json`): equal
 * texts mean the row is exactly as it was, whatever columns it has.
 *
 * @example
 * const before = await hostUsers(db);
 * // … up, then down …
 * expect((await hostUsers(db)).get(id)!.json).toBe(before.get(id)!.json);
 */
export async function hostUsers(db: Kysely<any>): Promise<Map<string, HostUser & { readonly json: string }>> {
  const { rows } = await sql<HostUser & { json: string }>`
    select u.*, to_jsonb(u)::text as json from coach.users u order by u.id`.execute(db);
  return new Map(rows.map((r) => [r.id, r]));
}
