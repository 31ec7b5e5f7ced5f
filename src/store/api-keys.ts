import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../errors/index.js';
import { forAllUsers, forUser, type StoreContext } from './store-context.js';
import { NOT_STORABLE, parse, storable, uuidSchema } from './validation.js';

/** An API key as listed: never the secret, which only its creator ever sees. */
export interface ApiKey {
  readonly id: string;
  readonly userId: string;
  readonly name: string;
  /** The key's first characters (`ck_1a2b3c4d`), to recognise it in a list. */
  readonly prefix: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
  readonly revokedAt: Date | null;
}

export interface CreatedApiKey {
  readonly apiKey: ApiKey;
  /** The secret, shown once: chatkeep keeps only its SHA-256 hash. */
  readonly secret: string;
}

const KEY_PATTERN = /^(ck_[0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;
const nameSchema = z
  .string()
  .max(100, 'must be at most 100 characters')
  .refine(storable, NOT_STORABLE);

/**
 * Live (unrevoked) keys one user may hold. Without a cap, a token holder
 * could issue keys without end (each a row and a credential to leak); a
 * person or a deployment needs a handful.
 */
export const MAX_ACTIVE_API_KEYS = 100;

/**
 * Revoked keys kept per user, the latest revoked: the list shows what was
 * revoked when, but revoking makes room under MAX_ACTIVE_API_KEYS, so
 * without a bound create-then-revoke in a loop grew the user's rows (and
 * the list, returned whole) without end. Each create prunes the older ones,
 * so a user holds at most this many plus the ones revoked since (at most
 * MAX_ACTIVE_API_KEYS).
 */
export const MAX_REVOKED_API_KEYS = 100;

/** How stale `last_used_at` may get before a use writes it again: one write per key per minute, not per request. */
const LAST_USED_RESOLUTION_SECONDS = 60;

/**
 * Per-user API keys for the HTTP front door (issue 3): issue, list, revoke,
 * and resolve a presented secret to its user.
 */
export class ApiKeys {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /**
   * Issues a key for `userId`. The returned secret is the only copy.
   * @example const { secret } = await store.apiKeys.create('user-1', { name: 'laptop' });
   */
  async create(userId: string, options: { readonly name?: string } = {}): Promise<CreatedApiKey> {
    const user = this.#user(userId);
    const name = parse(z.object({ name: nameSchema.optional() }).strict(), options).name ?? '';
    const prefix = `ck_${randomBytes(4).toString('hex')}`;
    const secret = `${prefix}_${randomBytes(32).toString('base64url')}`;
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db.transaction().execute(async (trx) => {
        // Creates of one user queue here, so two at once cannot both pass the count below at 99.
        await sql`select pg_advisory_xact_lock(hashtextextended(${`chatkeep.api_keys:${this.#ctx.schema}:${user}`}, 0))`.execute(trx);
        const live = await trx
          .selectFrom('api_keys')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('user_id', '=', user)
          .where('revoked_at', 'is', null)
          .executeTakeFirstOrThrow();
        if (Number(live.n) >= MAX_ACTIVE_API_KEYS) {
          throw new ConflictError(`A user may hold at most ${MAX_ACTIVE_API_KEYS} unrevoked API keys; revoke one first`, { field: 'userId', limit: MAX_ACTIVE_API_KEYS });
        }
        // Under the same lock: a concurrent create cannot prune a row this one counted.
        await trx
          .deleteFrom('api_keys')
          .where('user_id', '=', user)
          .where('revoked_at', 'is not', null)
          .where('id', 'not in', (eb) =>
            eb
              .selectFrom('api_keys')
              .select('id')
              .where('user_id', '=', user)
              .where('revoked_at', 'is not', null)
              .orderBy('revoked_at', 'desc')
              .orderBy('id', 'desc')
              .limit(MAX_REVOKED_API_KEYS),
          )
          .execute();
        return trx
          .insertInto('api_keys')
          .values({ user_id: user, id: this.#ctx.newId(), name, prefix, secret_hash: hashSecret(secret) })
          .returningAll()
          .executeTakeFirstOrThrow();
      }),
    );
    return { apiKey: toApiKey(row as unknown as Record<string, unknown>), secret };
  }

  /** The user's keys, newest first, the latest {@link MAX_REVOKED_API_KEYS} revoked ones included (marked). */
  async list(userId: string): Promise<ApiKey[]> {
    const user = this.#user(userId);
    const rows = await forUser(this.#ctx, user, () =>
      this.#ctx.db.selectFrom('api_keys').selectAll().where('user_id', '=', user).orderBy('id', 'desc').execute(),
    );
    return rows.map((r) => toApiKey(r as unknown as Record<string, unknown>));
  }

  /**
   * Revokes one of the user's keys; revoking twice is harmless (unless the
   * key was pruned since, see MAX_REVOKED_API_KEYS: then it is gone, CK_NOT_FOUND).
   * Another user's key id is CK_NOT_FOUND.
   */
  async revoke(userId: string, keyId: string): Promise<ApiKey> {
    const user = this.#user(userId);
    const id = parse(uuidSchema, keyId, 'keyId');
    const row = await forUser(this.#ctx, user, () =>
      this.#ctx.db
        .updateTable('api_keys')
        .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` })
        .where('user_id', '=', user)
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw new NotFoundError('API key');
    return toApiKey(row as unknown as Record<string, unknown>);
  }

  /**
   * System scope: the user a presented secret belongs to, or undefined if it
   * is malformed, unknown or revoked. One index lookup by hash.
   */
  async authenticate(secret: string): Promise<string | undefined> {
    this.#ctx.assertOpen();
    if (typeof secret !== 'string' || !KEY_PATTERN.test(secret)) return undefined;
    const hash = hashSecret(secret);
    const row = await forAllUsers(this.#ctx, async () => {
      const result = await sql<{ user_id: string; stale: boolean }>`
        select user_id, (last_used_at is null or last_used_at < now() - make_interval(secs => ${LAST_USED_RESOLUTION_SECONDS})) as stale
          from ${sql.id(this.#ctx.schema, 'api_keys')}
         where secret_hash = ${hash} and revoked_at is null`.execute(this.#ctx.db);
      return result.rows[0];
    });
    if (row === undefined) return undefined;
    if (row.stale) {
      await forAllUsers(this.#ctx, () =>
        sql`update ${sql.id(this.#ctx.schema, 'api_keys')} set last_used_at = now() where secret_hash = ${hash}`.execute(this.#ctx.db),
      );
    }
    return String(row.user_id);
  }

  /** System scope: whether any API key row exists, revoked ones included (erased users' keys are gone). */
  async anyIssued(): Promise<boolean> {
    this.#ctx.assertOpen();
    const row = await forAllUsers(this.#ctx, () => this.#ctx.db.selectFrom('api_keys').select('id').limit(1).executeTakeFirst());
    return row !== undefined;
  }

  #user(userId: string): string {
    this.#ctx.assertOpen();
    return parse(this.#ctx.rules.userId, userId, 'userId');
  }
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function toApiKey(row: Record<string, unknown>): ApiKey {
  const date = (v: unknown) => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(String(v)));
  return {
    id: String(row['id']),
    userId: String(row['user_id']),
    name: String(row['name']),
    prefix: String(row['prefix']),
    createdAt: date(row['created_at']) ?? new Date(0),
    lastUsedAt: date(row['last_used_at']),
    revokedAt: date(row['revoked_at']),
  };
}
