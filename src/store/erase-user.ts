import { sql, type Kysely } from 'kysely';
import type { ChatkeepTables } from '../db/index.js';
import { ChatkeepError } from '../errors/index.js';
import { retryDeadlocks } from './deadlock-retry.js';
import { forUser, type StoreContext } from './store-context.js';
import { parse } from './validation.js';

/** What `eraseUser` removed. */
export interface EraseReport {
  readonly conversations: number;
  readonly messages: number;
  readonly onboardingSessions: number;
  readonly apiKeys: number;
}

/** Passes after which a user who never stops writing gets CK_CONFLICT (and nothing erased) rather than an endless erase. */
const MAX_PASSES = 20;

/**
 * Removes everything chatkeep holds about one user and nothing of anyone else
 * (SPEC R-CHAT-5, GDPR-style erase), in one transaction: messages,
 * idempotency keys and streamed-turn records go by cascade with their
 * conversations; the user's feature-flag overrides are deleted too (not
 * counted in the report, whose shape the HTTP API documents; the flags
 * themselves are not the user's).
 *
 * Concurrent writes of the same user: under READ COMMITTED each DELETE sees
 * the rows committed when *it* starts, and the user's inserts take no lock
 * the erase holds (a new key or conversation is a new row). So one pass of
 * DELETEs could miss a key created while the pass waited on a row lock,
 * yet erase a conversation the user created after that key — half-erased,
 * with a key that still authenticates. The pass is therefore repeated, in the
 * same transaction, until one deletes nothing: at the start of that clean
 * pass the user had nothing left but what this transaction deletes, so the
 * erase is the atomic "delete everything of the user" at that moment, and a
 * write committed after it is a write after the erase (test:
 * test/store/audit-erase.test.ts holds the erase on a row lock and writes
 * meanwhile). On PGlite transactions run one at a time; the second pass is
 * one cheap no-op.
 */
export async function eraseUser(ctx: StoreContext, userId: string): Promise<EraseReport> {
  ctx.assertOpen();
  const user = parse(ctx.rules.userId, userId, 'userId');
  return forUser(ctx, user, () =>
    retryDeadlocks(() =>
      ctx.db.transaction().execute(async (trx) => {
        let report: EraseReport = {
          conversations: 0,
          messages: 0,
          onboardingSessions: 0,
          apiKeys: 0,
        };
        for (let pass = 0; pass < MAX_PASSES; pass++) {
          const { removed, uncounted } = await erasePass(trx, user);
          report = {
            conversations: report.conversations + removed.conversations,
            messages: report.messages + removed.messages,
            onboardingSessions: report.onboardingSessions + removed.onboardingSessions,
            apiKeys: report.apiKeys + removed.apiKeys,
          };
          const found = removed.conversations + removed.onboardingSessions + removed.apiKeys;
          if (found + uncounted === 0) return report;
        }
        // Throwing rolls the transaction back: nothing half-erased.
        throw new ChatkeepError(
          'CK_CONFLICT',
          'The user kept writing while being erased; nothing was erased, try again',
          { field: 'userId' },
        );
      }),
    ),
  );
}

/** One DELETE per table the user has rows in (the rest go by cascade); `uncounted` is what the report leaves out. */
async function erasePass(
  trx: Kysely<ChatkeepTables>,
  user: string,
): Promise<{ removed: EraseReport; uncounted: number }> {
  const keys = await trx.deleteFrom('api_keys').where('user_id', '=', user).executeTakeFirst();
  const overrides = await trx
    .deleteFrom('feature_flag_overrides')
    .where('user_id', '=', user)
    .executeTakeFirst();
  const onboarding = await trx
    .deleteFrom('onboarding_sessions')
    .where('user_id', '=', user)
    .executeTakeFirst();
  // Conversations first, their streamed turns by cascade: the order in which a streamed-turn commit
  // locks them too (conversation, then turn), so the two queue instead of deadlocking.
  const deleted = await trx
    .deleteFrom('conversations')
    .where('user_id', '=', user)
    .returning(sql<number>`message_count`.as('message_count'))
    .execute();
  const turns = await trx.deleteFrom('streamed_turns').where('user_id', '=', user).executeTakeFirst();
  return {
    removed: {
      conversations: deleted.length,
      messages: deleted.reduce((sum, row) => sum + Number(row.message_count), 0),
      onboardingSessions: Number(onboarding.numDeletedRows),
      apiKeys: Number(keys.numDeletedRows),
    },
    uncounted: Number(overrides.numDeletedRows) + Number(turns.numDeletedRows),
  };
}
