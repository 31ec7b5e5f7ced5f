import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import { ChatkeepError, NotFoundError, pgErrorFields, ValidationError, wrapDriverError } from '../errors/index.js';
import type { ChatkeepTables } from '../db/index.js';
import { toOnboardingSession, type JsonObject, type OnboardingSession, type OnboardingStatus } from './rows.js';
import { forUser, type StoreContext } from './store-context.js';
import { jsonCheck, jsonProblem, limitSchema, metadataSchema, NOT_STORABLE, parse, storable, uuidSchema } from './validation.js';

export interface StartOnboardingInput {
  /** Which flow: lower-case letters, digits, `_ . -` (e.g. `running-coach`). */
  readonly flow: string;
  /** The named step the session starts in. */
  readonly phase: string;
  readonly progress?: number;
  readonly steps?: JsonObject;
  readonly goals?: readonly unknown[];
  readonly context?: JsonObject;
  readonly conversationId?: string | null;
}

export interface AdvanceOnboardingInput {
  readonly phase?: string;
  /** 0–100. */
  readonly progress?: number;
  /** Merged into the per-step state (top-level keys replace). */
  readonly steps?: JsonObject;
  /** Replaces the goals. */
  readonly goals?: readonly unknown[];
  /** Merged into the context (top-level keys replace). */
  readonly context?: JsonObject;
  readonly conversationId?: string | null;
}

const flowSchema = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'expected 1–64 of a-z 0-9 _ . - starting with a letter or digit');
const phaseSchema = z.string().min(1, 'must not be empty').max(100, 'must be at most 100 characters').refine(storable, NOT_STORABLE);
const progressSchema = z.number().int('expected an integer').min(0).max(100);
const goalsSchema = z.array(z.unknown()).max(1000).superRefine(jsonCheck('array'));

const startSchema = z
  .object({
    flow: flowSchema,
    phase: phaseSchema,
    progress: progressSchema.optional(),
    steps: metadataSchema.optional(),
    goals: goalsSchema.optional(),
    context: metadataSchema.optional(),
    conversationId: uuidSchema.nullable().optional(),
  })
  .strict();

const advanceSchema = startSchema.omit({ flow: true }).partial().strict();

const listSchema = z
  .object({
    flow: flowSchema.optional(),
    status: z.enum(['active', 'completed', 'abandoned']).optional(),
    limit: limitSchema(100).optional(),
  })
  .strict();

/** Onboarding sessions (SPEC R-ONB-1, R-ONB-2): at most one active per user and flow. */
export class Onboarding {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /**
   * Starts the flow, or resumes the user's active session of it
   * (`resumed: true`, and the input is ignored). Safe under concurrent calls:
   * a partial unique index allows one active session per user and flow.
   *
   * @example
   * const { session } = await store.onboarding.start(user, { flow: 'coach', phase: 'welcome' });
   */
  async start(userId: string, input: StartOnboardingInput): Promise<{ session: OnboardingSession; resumed: boolean }> {
    const user = this.#user(userId);
    const data = parse(startSchema, input);
    const id = this.#ctx.newId();
    // One statement: insert, or take the active session. It was an insert
    // that did nothing on conflict, then a read of the active session, and a
    // complete or abandon in between left the read empty (three misses in a
    // row failed the call; test/store/onboarding-start-race.test.ts). On
    // conflict, the no-op update makes PostgreSQL lock and return the active
    // row in the same statement, or insert after all if that row ended
    // meanwhile: an insert-or-update is atomic. `phase` is set to itself, a
    // column no index covers, so the write is a HOT update and changes nothing.
    const row = await this.#guard(user, () =>
      this.#ctx.db
        .insertInto('onboarding_sessions')
        .values({
          user_id: user,
          id,
          flow: data.flow,
          phase: data.phase,
          progress: data.progress ?? 0,
          steps: JSON.stringify(data.steps ?? {}),
          goals: JSON.stringify(data.goals ?? []),
          context: JSON.stringify(data.context ?? {}),
          conversation_id: data.conversationId ?? null,
        })
        .onConflict((oc) =>
          oc
            .columns(['user_id', 'flow'])
            .where('status', '=', 'active')
            .doUpdateSet({ phase: (eb) => eb.ref('onboarding_sessions.phase') }),
        )
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return { session: toOnboardingSession(row), resumed: row.id !== id };
  }

  /** One session, or CK_NOT_FOUND (also when it belongs to another user). */
  async get(userId: string, sessionId: string): Promise<OnboardingSession> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, sessionId, 'sessionId');
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db.selectFrom('onboarding_sessions').selectAll().where('user_id', '=', user).where('id', '=', id).executeTakeFirst(),
    );
    if (row === undefined) throw new NotFoundError('onboarding session');
    return toOnboardingSession(row);
  }

  /** The user's active session of `flow`, or null. */
  async active(userId: string, flow: string): Promise<OnboardingSession | null> {
    const user = this.#user(userId);
    const f = parse(flowSchema, flow, 'flow');
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db
        .selectFrom('onboarding_sessions')
        .selectAll()
        .where('user_id', '=', user)
        .where('flow', '=', f)
        .where('status', '=', 'active')
        .executeTakeFirst(),
    );
    return row === undefined ? null : toOnboardingSession(row);
  }

  /** The user's sessions, newest first. */
  async list(
    userId: string,
    options: { readonly flow?: string; readonly status?: OnboardingStatus; readonly limit?: number } = {},
  ): Promise<OnboardingSession[]> {
    const user = this.#user(userId);
    const { flow, status, limit = 50 } = parse(listSchema, options);
    const rows = await forUser(this.#ctx, user, () => {
      let q = this.#ctx.db.selectFrom('onboarding_sessions').selectAll().where('user_id', '=', user);
      if (flow !== undefined) q = q.where('flow', '=', flow);
      if (status !== undefined) q = q.where('status', '=', status);
      return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    });
    return rows.map(toOnboardingSession);
  }

  /** Moves an active session on: phase, progress, step state, goals, context. */
  async advance(userId: string, sessionId: string, input: AdvanceOnboardingInput): Promise<OnboardingSession> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, sessionId, 'sessionId');
    const data = parse(advanceSchema, input);
    return this.#transition(user, id, {
      ...(data.phase !== undefined ? { phase: data.phase } : {}),
      ...(data.progress !== undefined ? { progress: data.progress } : {}),
      ...(data.steps !== undefined ? { steps: sql`steps || ${JSON.stringify(data.steps)}::jsonb` } : {}),
      ...(data.goals !== undefined ? { goals: JSON.stringify(data.goals) } : {}),
      ...(data.context !== undefined ? { context: sql`context || ${JSON.stringify(data.context)}::jsonb` } : {}),
      ...(data.conversationId !== undefined ? { conversation_id: data.conversationId } : {}),
    }, mergedFields(data));
  }

  /** Marks an active session completed (progress 100). */
  async complete(userId: string, sessionId: string, input: { readonly context?: JsonObject } = {}): Promise<OnboardingSession> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, sessionId, 'sessionId');
    const data = parse(z.object({ context: metadataSchema.optional() }).strict(), input);
    return this.#transition(user, id, {
      status: 'completed',
      progress: 100,
      completed_at: sql`now()`,
      ...(data.context !== undefined ? { context: sql`context || ${JSON.stringify(data.context)}::jsonb` } : {}),
    }, mergedFields(data));
  }

  /** Marks an active session abandoned; a later `start` begins a new one. */
  async abandon(userId: string, sessionId: string): Promise<OnboardingSession> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, sessionId, 'sessionId');
    return this.#transition(user, id, { status: 'abandoned', abandoned_at: sql`now()` });
  }

  /**
   * Applies `changes` to the session if it is still active: one UPDATE …
   * WHERE status = 'active', so an advance racing a complete either lands
   * before it or gets CK_SESSION_NOT_ACTIVE, never both.
   *
   * `steps` and `context` are merged (`||`) in the database, so each advance
   * may add up to 64 KiB to what is there: checking only the input would let
   * a session grow without bound. When a merge happens, the UPDATE runs in a
   * transaction and the merged value, as stored, is checked against the same
   * 64 KiB rule as the input before committing; over it is CK_VALIDATION
   * naming the field and the transaction rolls back (nothing written).
   */
  async #transition(user: string, id: string, changes: Record<string, unknown>, merged: readonly ('steps' | 'context')[] = []): Promise<OnboardingSession> {
    const update = (db: Kysely<ChatkeepTables>) =>
      db
        .updateTable('onboarding_sessions')
        .set({ ...changes, updated_at: sql`now()` } as never)
        .where('user_id', '=', user)
        .where('id', '=', id)
        .where('status', '=', 'active')
        .returningAll()
        .executeTakeFirst();
    const row = await this.#guard(user, () =>
      merged.length === 0
        ? update(this.#ctx.db)
        : this.#ctx.db.transaction().execute(async (trx) => {
            const updated = await update(trx);
            if (updated !== undefined) {
              const session = toOnboardingSession(updated);
              for (const field of merged) {
                const problem = jsonProblem(session[field], 'object');
                if (problem !== undefined) throw new ValidationError(field, `${problem} once merged with the stored value`);
              }
            }
            return updated;
          }),
    );
    if (row !== undefined) return toOnboardingSession(row);
    const existing = await this.get(user, id);
    throw new ChatkeepError('CK_SESSION_NOT_ACTIVE', `The onboarding session is ${existing.status}`, { status: existing.status });
  }

  async #guard<T>(user: string, work: () => Promise<T>): Promise<T> {
    try {
      return await this.#ctx.scoped({ user }, work);
    } catch (error) {
      const pg = pgErrorFields(error);
      if (pg?.code === '23503' && pg.constraint === 'onboarding_sessions_conversation_fk') {
        throw new NotFoundError('conversation', { cause: error });
      }
      throw wrapDriverError(error);
    }
  }

  #user(userId: string): string {
    this.#ctx.assertOpen();
    return parse(this.#ctx.rules.userId, userId, 'userId');
  }
}

/** Which of `steps` and `context` an input merges into the stored value. */
function mergedFields(data: { readonly steps?: unknown; readonly context?: unknown }): ('steps' | 'context')[] {
  return (['steps', 'context'] as const).filter((field) => data[field] !== undefined);
}
