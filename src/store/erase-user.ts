import { sql } from 'kysely';
import { guarded, type StoreContext } from './store-context.js';
import { parse } from './validation.js';

/** What `eraseUser` removed. */
export interface EraseReport {
  readonly conversations: number;
  readonly messages: number;
  readonly onboardingSessions: number;
  readonly apiKeys: number;
}

/**
 * Removes everything chatkeep holds about one user and nothing of anyone else
 * (SPEC R-CHAT-5, GDPR-style erase), in one transaction: messages,
 * idempotency keys and streamed-turn records go by cascade with their
 * conversations; the user's feature-flag overrides are deleted too (not
 * counted in the report, whose shape the HTTP API documents; the flags
 * themselves are not the user's).
 */
export async function eraseUser(ctx: StoreContext, userId: string): Promise<EraseReport> {
  ctx.assertOpen();
  const user = parse(ctx.rules.userId, userId, 'userId');
  return guarded(() =>
    ctx.db.transaction().execute(async (trx) => {
      const keys = await trx.deleteFrom('api_keys').where('user_id', '=', user).executeTakeFirst();
      await trx.deleteFrom('feature_flag_overrides').where('user_id', '=', user).execute();
      const onboarding = await trx.deleteFrom('onboarding_sessions').where('user_id', '=', user).executeTakeFirst();
      const deleted = await trx
        .deleteFrom('conversations')
        .where('user_id', '=', user)
        .returning(sql<number>`message_count`.as('message_count'))
        .execute();
      return {
        conversations: deleted.length,
        messages: deleted.reduce((sum, row) => sum + Number(row.message_count), 0),
        onboardingSessions: Number(onboarding.numDeletedRows),
        apiKeys: Number(keys.numDeletedRows),
      };
    }),
  );
}
