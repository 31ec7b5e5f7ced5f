import { createHash } from 'node:crypto';

/** Buckets per percent: rollouts move in steps of 0.01 %, the resolution of `rollout_percent numeric(5,2)`. */
const BUCKETS_PER_PERCENT = 100;
const BUCKETS = 100 * BUCKETS_PER_PERCENT;

/**
 * A user's place in a flag's rollout: an integer in [0, 10000), i.e. a
 * percentage in [0, 100) with 0.01 granularity. It is the first 32 bits of
 * SHA-256(`${salt}:${userId}`), scaled, so it is the same in every process
 * and after every restart (no `Math.random`, no process-seeded hash), and
 * uniform enough that a rollout of p % reaches p % of users (test:
 * test/store/feature-flags.test.ts, 10,000 users within ±2 points).
 *
 * The salt is the flag's (by default its name), so two flags at 30 % pick
 * different users; flags given the same salt deliberately pick nested sets
 * (Unleash's `groupId` stickiness). The user id is last and the salt is fixed
 * per flag, so `salt:userId` is a one-to-one function of the user id.
 *
 * @example rolloutBucket('new-reader', 'user-1') // 4217 → inside any rollout above 42.17 %
 */
export function rolloutBucket(salt: string, userId: string): number {
  const digest = createHash('sha256').update(`${salt}:${userId}`).digest();
  return Math.floor((digest.readUInt32BE(0) * BUCKETS) / 2 ** 32);
}

/**
 * Whether `bucket` falls inside a rollout of `percent` %. Raising the
 * percentage only adds users: the set at p is a subset of the set at any
 * q > p, because membership is one comparison against a threshold.
 */
export function inRollout(bucket: number, percent: number): boolean {
  return bucket < Math.round(percent * BUCKETS_PER_PERCENT);
}
