import { sql } from 'kysely';
import { z } from 'zod';
import { NotFoundError, ValidationError, pgErrorFields, wrapDriverError } from '../errors/index.js';
import { FlagCache, FLAG_CACHE_DEFAULTS, type FlagCacheOptions, type FlagRule, type FlagSnapshot } from './flag-cache.js';
import { inRollout, rolloutBucket } from './rollout-bucket.js';
import { ALL_USERS, type RowScope } from '../db/index.js';
import type { StoreContext } from './store-context.js';
import { charLength, NOT_STORABLE, parse, storable } from './validation.js';

/** A feature flag as defined (system scope). */
export interface FeatureFlag {
  /** Lower-case id of letters, digits, `-` and `.` (`analysis.v2-reader`), at most 100 characters. */
  readonly name: string;
  readonly description: string;
  /** The kill switch: a disabled flag is off for everyone, overrides included. */
  readonly enabled: boolean;
  /** 0–100 in steps of 0.01: the share of users the flag is on for while enabled. */
  readonly rolloutPercent: number;
  /** Seed of the rollout (default: the name). Flags with the same salt roll out to nested sets of users. */
  readonly salt: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What `define` and `update` take; an omitted field keeps its value (or its default, for a new flag). */
export interface DefineFlagInput {
  /** At most 1000 characters (default ''). */
  readonly description?: string;
  /** Default false. */
  readonly enabled?: boolean;
  /** 0–100 with at most two decimals (default 0). */
  readonly rolloutPercent?: number;
  /** 1–100 characters (default: the flag's name). Changing it reshuffles who is in the rollout. */
  readonly salt?: string;
}

/** One user's override of one flag. */
export interface FlagOverride {
  readonly userId: string;
  readonly flag: string;
  readonly enabled: boolean;
}

export const flagNameSchema = z
  .string({ error: 'expected a string' })
  .max(100, 'must be at most 100 characters')
  .regex(/^[a-z][a-z0-9]*([.-][a-z0-9]+)*$/, 'expected a lower-case id of letters, digits, "-" and "." (e.g. analysis.v2-reader)');

const percentSchema = z
  .number({ error: 'expected a number' })
  .min(0, 'must be between 0 and 100')
  .max(100, 'must be between 0 and 100')
  // numeric(5,2) would round 33.333 silently; refuse it instead, so what is stored is what was asked for.
  .refine((p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-6, 'at most two decimals');

const defineSchema = z
  .object({
    description: z
      .string({ error: 'expected a string' })
      .refine((t) => charLength(t) <= 1000, 'must be at most 1000 characters')
      .refine(storable, NOT_STORABLE)
      .optional(),
    enabled: z.boolean({ error: 'expected a boolean' }).optional(),
    rolloutPercent: percentSchema.optional(),
    salt: z
      .string({ error: 'expected a string' })
      .refine((t) => charLength(t) >= 1 && charLength(t) <= 100, 'must be 1–100 characters')
      .refine(storable, NOT_STORABLE)
      .optional(),
  })
  .strict();

/** Constraint → field, for rules only the database caught (plain SQL, a race); see src/schema/0006-feature-flags.ts. */
const CONSTRAINT_FIELDS: Readonly<Record<string, string>> = {
  feature_flags_name_check: 'name',
  feature_flags_description_check: 'description',
  feature_flags_rollout_percent_check: 'rolloutPercent',
  feature_flags_salt_check: 'salt',
  feature_flag_overrides_user_id_check: 'userId',
  // feature_flag_overrides_user_fk: wrapDriverError names the host's users table.
};

/**
 * Feature flags with a per-user percentage rollout (issue 4; seed 004
 * MIGRATION-002: switch readers to a new shape gradually), stored in the
 * database so every process and the HTTP API see the same rollout.
 *
 * A user's answer for a flag:
 * 1. unknown flag → false (code can ship before its flag exists);
 * 2. disabled → false for everyone, overrides included — `enabled` is the
 *    kill switch, and a kill switch with exceptions is not one (LaunchDarkly
 *    serves the "off" variation to everyone while targeting is off);
 * 3. the user's override, when there is one (on or off);
 * 4. otherwise whether the user's bucket (see rolloutBucket) is under
 *    `rolloutPercent`: stable per user, and raising the percentage only adds
 *    users. To let only testers in, enable at 0 % and override them on.
 *
 * Evaluations read a cached snapshot (see FlagCache): a change through this
 * store is visible at once, one made elsewhere within `flagCache.ttlMs`
 * (default 1 s).
 *
 * @example
 * await store.flags.define('analysis.v2-reader', { enabled: true, rolloutPercent: 10 });
 * if (await store.flags.isEnabled(user, 'analysis.v2-reader')) readNewShape();
 */
export class FeatureFlags {
  readonly #ctx: StoreContext;
  readonly #cache: FlagCache;
  readonly #maxOverrides: number;

  constructor(ctx: StoreContext, options: FlagCacheOptions = {}) {
    this.#ctx = ctx;
    this.#maxOverrides = options.maxOverrides ?? FLAG_CACHE_DEFAULTS.maxOverrides;
    this.#cache = new FlagCache(() => this.#loadSnapshot(), options.ttlMs ?? FLAG_CACHE_DEFAULTS.ttlMs);
  }

  /**
   * Whether `name` is on for `userId`. An unknown flag is false, not an error;
   * a malformed name is CK_VALIDATION (a typo should fail loudly in tests).
   * @example if (await store.flags.isEnabled('user-1', 'new-reader')) …
   */
  async isEnabled(userId: string, name: string): Promise<boolean> {
    const user = this.#user(userId);
    const flag = parse(flagNameSchema, name, 'name');
    const snapshot = await this.#snapshot();
    if (snapshot !== undefined && snapshot.overrides !== null) return decide(user, snapshot.flags.get(flag), snapshot.overrides.get(user)?.get(flag));
    const rows = await this.#evaluationRows(user, flag);
    const row = rows[0];
    return row === undefined ? false : decide(user, row.rule, row.override);
  }

  /**
   * Every defined flag for `userId`, as `{ name: boolean }`: one query, or
   * none while the snapshot is fresh.
   * @example const { 'new-reader': useNew = false } = await store.flags.evaluate('user-1');
   */
  async evaluate(userId: string): Promise<Record<string, boolean>> {
    const user = this.#user(userId);
    const snapshot = await this.#snapshot();
    const result: Record<string, boolean> = {};
    if (snapshot !== undefined && snapshot.overrides !== null) {
      const mine = snapshot.overrides.get(user);
      for (const [name, rule] of snapshot.flags) result[name] = decide(user, rule, mine?.get(name));
      return result;
    }
    for (const row of await this.#evaluationRows(user)) result[row.name] = decide(user, row.rule, row.override);
    return result;
  }

  /**
   * System scope: creates the flag, or changes the given fields of an
   * existing one (`created` tells which). Safe under concurrent calls: one
   * `INSERT … ON CONFLICT DO UPDATE`, so racing definitions leave one row.
   * @example await store.flags.define('new-reader', { description: 'analysis v2 shape', enabled: true, rolloutPercent: 5 });
   */
  async define(name: string, input: DefineFlagInput = {}): Promise<{ flag: FeatureFlag; created: boolean }> {
    this.#ctx.assertOpen();
    const flag = parse(flagNameSchema, name, 'name');
    const data = parse(defineSchema, input);
    const changes = changesOf(data);
    const row = await this.#guard(ALL_USERS, () =>
      this.#ctx.db
        .insertInto('feature_flags')
        .values({
          name: flag,
          description: data.description ?? '',
          enabled: data.enabled ?? false,
          rollout_percent: data.rolloutPercent ?? 0,
          salt: data.salt ?? flag,
        })
        .onConflict((oc) =>
          // With nothing to change, a no-op assignment still locks and returns the row (DO NOTHING would return none).
          oc.column('name').doUpdateSet(Object.keys(changes).length > 0 ? { ...changes, updated_at: sql<Date>`now()` } : { name: flag }),
        )
        .returningAll()
        // xmax is 0 on a freshly inserted row version, and the updater's transaction id on an updated one.
        .returning(sql<boolean>`xmax = 0`.as('inserted'))
        .executeTakeFirstOrThrow(),
    );
    this.#cache.invalidate();
    return { flag: toFeatureFlag(row), created: row.inserted };
  }

  /** System scope: changes the given fields of an existing flag; CK_NOT_FOUND when there is none. */
  async update(name: string, input: DefineFlagInput): Promise<FeatureFlag> {
    this.#ctx.assertOpen();
    const flag = parse(flagNameSchema, name, 'name');
    const changes = changesOf(parse(defineSchema, input));
    const row = await this.#guard(ALL_USERS, () =>
      this.#ctx.db
        .updateTable('feature_flags')
        .set({ ...changes, updated_at: sql<Date>`now()` })
        .where('name', '=', flag)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw new NotFoundError('feature flag');
    this.#cache.invalidate();
    return toFeatureFlag(row);
  }

  /** System scope: the share of users (0–100, two decimals) the flag is on for while enabled. */
  setRollout(name: string, percent: number): Promise<FeatureFlag> {
    return this.update(name, { rolloutPercent: percent });
  }

  /** System scope: switches the flag on (for its rollout and overrides). */
  enable(name: string): Promise<FeatureFlag> {
    return this.update(name, { enabled: true });
  }

  /** System scope: switches the flag off for everyone, overrides included. */
  disable(name: string): Promise<FeatureFlag> {
    return this.update(name, { enabled: false });
  }

  /** System scope: one flag, or CK_NOT_FOUND. */
  async get(name: string): Promise<FeatureFlag> {
    this.#ctx.assertOpen();
    const flag = parse(flagNameSchema, name, 'name');
    const row = await this.#guard(ALL_USERS, () => this.#ctx.db.selectFrom('feature_flags').selectAll().where('name', '=', flag).executeTakeFirst());
    if (row === undefined) throw new NotFoundError('feature flag');
    return toFeatureFlag(row);
  }

  /** System scope: every flag, by name. */
  async list(): Promise<FeatureFlag[]> {
    this.#ctx.assertOpen();
    const rows = await this.#guard(ALL_USERS, () => this.#ctx.db.selectFrom('feature_flags').selectAll().orderBy('name').execute());
    return rows.map(toFeatureFlag);
  }

  /** System scope: deletes the flag and its overrides (evaluations then say false); CK_NOT_FOUND when there is none. */
  async delete(name: string): Promise<void> {
    this.#ctx.assertOpen();
    const flag = parse(flagNameSchema, name, 'name');
    const result = await this.#guard(ALL_USERS, () => this.#ctx.db.deleteFrom('feature_flags').where('name', '=', flag).executeTakeFirst());
    if (result.numDeletedRows === 0n) throw new NotFoundError('feature flag');
    this.#cache.invalidate();
  }

  /**
   * System scope: forces the flag on or off for one user, whatever the
   * rollout says (but a disabled flag stays off). CK_NOT_FOUND for an unknown flag.
   * @example await store.flags.setOverride('tester-1', 'new-reader', true);
   */
  async setOverride(userId: string, name: string, enabled: boolean): Promise<FlagOverride> {
    const user = this.#user(userId);
    const flag = parse(flagNameSchema, name, 'name');
    const on = parse(z.boolean({ error: 'expected a boolean' }), enabled, 'enabled');
    await this.#guard({ user }, () =>
      this.#ctx.db
        .insertInto('feature_flag_overrides')
        .values({ user_id: user, flag, enabled: on })
        .onConflict((oc) => oc.columns(['user_id', 'flag']).doUpdateSet({ enabled: on }))
        .execute(),
    );
    this.#cache.invalidate();
    return { userId: user, flag, enabled: on };
  }

  /**
   * System scope: removes the user's override, so the rollout decides again.
   * Returns whether there was one; CK_NOT_FOUND for an unknown flag.
   */
  async clearOverride(userId: string, name: string): Promise<boolean> {
    const user = this.#user(userId);
    const flag = parse(flagNameSchema, name, 'name');
    // One statement answers both questions: did the flag exist, and did the user have an override.
    const row = await this.#guard({ user }, async () => {
      const result = await sql<{ known: boolean; removed: boolean }>`
        with removed as (
          delete from ${sql.id(this.#ctx.schema, 'feature_flag_overrides')} where user_id = ${user} and flag = ${flag} returning 1
        )
        select exists (select 1 from ${sql.id(this.#ctx.schema, 'feature_flags')} where name = ${flag}) as known,
               exists (select 1 from removed) as removed`.execute(this.#ctx.db);
      return result.rows[0];
    });
    if (row?.known !== true) throw new NotFoundError('feature flag');
    if (row.removed) this.#cache.invalidate();
    return row.removed;
  }

  /** Drops the cached snapshot so the next evaluation reads the database (the store calls it after erasing a user). */
  forgetCache(): void {
    this.#cache.invalidate();
  }

  #snapshot(): Promise<FlagSnapshot | undefined> {
    return this.#cache.enabled ? this.#cache.get() : Promise.resolve(undefined);
  }

  async #loadSnapshot(): Promise<FlagSnapshot> {
    const [flagRows, overrideRows] = await this.#guard(ALL_USERS, () =>
      Promise.all([
        this.#ctx.db.selectFrom('feature_flags').select(['name', 'enabled', 'rollout_percent', 'salt']).execute(),
        this.#ctx.db.selectFrom('feature_flag_overrides').select(['user_id', 'flag', 'enabled']).limit(this.#maxOverrides + 1).execute(),
      ]),
    );
    const flags = new Map(flagRows.map((r) => [r.name, toRule(r)]));
    if (overrideRows.length > this.#maxOverrides) return { flags, overrides: null };
    const overrides = new Map<string, Map<string, boolean>>();
    for (const r of overrideRows) {
      const user = String(r.user_id);
      let mine = overrides.get(user);
      if (mine === undefined) overrides.set(user, (mine = new Map()));
      mine.set(r.flag, r.enabled);
    }
    return { flags, overrides };
  }

  /** The uncached path: every flag (or one) with the user's override, in one query over the flags and the user's key range. */
  async #evaluationRows(user: string, flag?: string): Promise<{ name: string; rule: FlagRule; override: boolean | undefined }[]> {
    const rows = await this.#guard({ user }, () => {
      let q = this.#ctx.db
        .selectFrom('feature_flags as f')
        .leftJoin('feature_flag_overrides as o', (join) => join.onRef('o.flag', '=', 'f.name').on('o.user_id', '=', user))
        .select(['f.name', 'f.enabled', 'f.rollout_percent', 'f.salt', 'o.enabled as override']);
      if (flag !== undefined) q = q.where('f.name', '=', flag);
      return q.execute();
    });
    return rows.map((r) => ({ name: r.name, rule: toRule(r), override: r.override ?? undefined }));
  }

  /** Flags are configuration (no policy); overrides are user rows, read per user or, for the cache, for all. */
  async #guard<T>(scope: RowScope, work: () => Promise<T>): Promise<T> {
    try {
      return await this.#ctx.scoped(scope, work);
    } catch (error) {
      const pg = pgErrorFields(error);
      if (pg?.code === '23503' && pg.constraint === 'feature_flag_overrides_flag_fk') throw new NotFoundError('feature flag', { cause: error });
      const field = CONSTRAINT_FIELDS[pg?.constraint ?? ''];
      if (field !== undefined && pg?.code !== undefined && /^23/.test(pg.code)) {
        throw new ValidationError(field, `rejected by the database (${pg.code} ${pg.constraint ?? ''})`, { cause: error });
      }
      throw wrapDriverError(error);
    }
  }

  #user(userId: string): string {
    this.#ctx.assertOpen();
    return parse(this.#ctx.rules.userId, userId, 'userId');
  }
}

/** The evaluation rule, in one place for the cached and the uncached path (see the class comment). */
function decide(user: string, rule: FlagRule | undefined, override: boolean | undefined): boolean {
  if (rule === undefined || !rule.enabled) return false;
  if (override !== undefined) return override;
  return inRollout(rolloutBucket(rule.salt, user), rule.rolloutPercent);
}

function changesOf(data: z.output<typeof defineSchema>): { description?: string; enabled?: boolean; rollout_percent?: number; salt?: string } {
  return {
    ...(data.description !== undefined ? { description: data.description } : {}),
    ...(data.enabled !== undefined ? { enabled: data.enabled } : {}),
    ...(data.rolloutPercent !== undefined ? { rollout_percent: data.rolloutPercent } : {}),
    ...(data.salt !== undefined ? { salt: data.salt } : {}),
  };
}

function toRule(row: { enabled: boolean; rollout_percent: string | number; salt: string }): FlagRule {
  return { enabled: row.enabled, rolloutPercent: Number(row.rollout_percent), salt: row.salt };
}

function toFeatureFlag(row: {
  name: string;
  description: string;
  enabled: boolean;
  rollout_percent: string | number;
  salt: string;
  created_at: Date;
  updated_at: Date;
}): FeatureFlag {
  const date = (v: unknown) => (v instanceof Date ? v : new Date(String(v)));
  return {
    name: row.name,
    description: row.description,
    enabled: row.enabled,
    rolloutPercent: Number(row.rollout_percent),
    salt: row.salt,
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
  };
}
