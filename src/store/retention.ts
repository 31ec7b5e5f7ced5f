import { sql } from 'kysely';
import { z } from 'zod';
import { retryDeadlocks } from './deadlock-retry.js';
import { forAllUsers, type StoreContext } from './store-context.js';
import { pause } from './pause.js';
import { parse } from './validation.js';

export interface PurgeOptions {
  /** Conversations whose last activity (last message, else creation) is before this are deleted. */
  readonly before: Date;
  /** Conversations per batch, each batch its own short transaction (default 100). */
  readonly batchSize?: number;
  /** Pause between batches, in ms (default 0). */
  readonly pauseMs?: number;
  /** Called after every batch with the totals so far. */
  readonly onProgress?: (progress: PurgeReport) => void;
  /** Stop after the batch in flight. */
  readonly signal?: AbortSignal;
}

export interface PurgeReport {
  readonly conversations: number;
  readonly messages: number;
  readonly batches: number;
}

const optionsSchema = z
  .object({
    before: z
      .date({ error: 'expected a Date' })
      .refine((d) => !Number.isNaN(d.getTime()), 'expected a valid Date')
      // It is sent as toISOString(), which PostgreSQL reads only for years 1–9999 (year 0 and "+010000-…" are refused).
      .refine((d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999, 'expected a Date in the years 1–9999'),
    batchSize: z.number().int('expected an integer').min(1).max(10_000).optional(),
    pauseMs: z.number().int('expected an integer').min(0).max(60_000).optional(),
    onProgress: z.function().optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .strict();

/**
 * Retention (SPEC R-CHAT-6): deletes inactive conversations, with their
 * messages, turns and idempotency keys (cascade), in batches. The batches
 * walk the conversations' primary key once (keyset), so the whole purge reads
 * the table once rather than once per batch, and each batch is a short
 * transaction that locks only the rows it deletes: the application keeps
 * writing to every other conversation meanwhile. A conversation that gets a
 * new message while the purge runs is kept (the cut-off is re-checked in the
 * deleting statement itself).
 *
 * A conversation with a streamed turn still `streaming` is in use, however
 * old its last message: beginning a turn does not touch the conversation's
 * activity (the user's message is held outside history until commit), so
 * without this check the purge deleted the conversation under a live stream,
 * its commit failed with CK_NOT_FOUND and the user's message was lost. An
 * abandoned stream stops protecting it once the sweeper aborts it. A
 * `turns.run` whose agent is working holds such a turn too (migration 0009).
 */
export class Retention {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /**
   * System scope: purges every user's conversations inactive since before `before`.
   * @example await store.retention.purge({ before: new Date(Date.now() - 90 * 86_400_000), batchSize: 200 });
   */
  async purge(options: PurgeOptions): Promise<PurgeReport> {
    this.#ctx.assertOpen();
    const { before, batchSize = 100, pauseMs = 0, signal } = parse(optionsSchema, options);
    const table = sql.id(this.#ctx.schema, 'conversations');
    const turns = sql.id(this.#ctx.schema, 'streamed_turns');
    const cutOff = before.toISOString();
    // user_id is the host's key type when a users table is configured.
    const userIdArray = sql.raw(`${this.#ctx.settings.users?.type ?? 'text'}[]`);
    let last: [string, string] | undefined;
    let report: PurgeReport = { conversations: 0, messages: 0, batches: 0 };
    while (signal?.aborted !== true) {
      const after = last === undefined ? sql`` : sql`and (user_id, id) > (${last[0]}, ${last[1]}::uuid)`;
      // Two statements in one transaction: the first locks the candidates,
      // the second deletes those still idle and without a live stream. One
      // statement could not do both: its "no live stream" check reads the
      // snapshot taken when it began, so a turn begun by a transaction it
      // waited for (on the conversation's row) went unseen, and the cascade
      // deleted the turn that transaction had just begun. The second
      // statement's snapshot is taken after the locks are held, and no turn
      // can be begun on a locked conversation until this one commits.
      // A batch locks conversations, then what their deletion cascades to (an
      // onboarding session's link is set to null); a writer that locks in the
      // other order (onboarding.advance moving a link: the session, then the
      // conversation for the foreign-key check) can meet it in a deadlock, and
      // PostgreSQL may pick the purge as the victim. The batch was rolled back
      // whole, so it is run again rather than failing the purge.
      const batch = await forAllUsers(this.#ctx, () => retryDeadlocks(() =>
        this.#ctx.db.transaction().execute(async (trx) => {
          const { rows: candidates } = await sql<{ user_id: string; id: string }>`
            select user_id, id from ${table}
             where coalesce(last_message_at, created_at) < ${cutOff}::timestamptz ${after}
               and not exists (select 1 from ${turns} t where t.user_id = ${table}.user_id and t.conversation_id = ${table}.id and t.state = 'streaming')
             order by user_id, id
             limit ${batchSize}
               for update`.execute(trx);
          if (candidates.length === 0) return [];
          const { rows: gone } = await sql<{ user_id: string; id: string; message_count: number | string }>`
            delete from ${table} c
             where (c.user_id, c.id) in (select * from unnest(${candidates.map((r) => String(r.user_id))}::${userIdArray}, ${candidates.map((r) => r.id)}::uuid[]))
               and coalesce(c.last_message_at, c.created_at) < ${cutOff}::timestamptz
               and not exists (select 1 from ${turns} t where t.user_id = c.user_id and t.conversation_id = c.id and t.state = 'streaming')
            returning c.user_id, c.id, c.message_count`.execute(trx);
          const counts = new Map(gone.map((g) => [`${String(g.user_id)}/${g.id}`, Number(g.message_count)]));
          return candidates.map((r) => {
            const count = counts.get(`${String(r.user_id)}/${r.id}`);
            return { user_id: r.user_id, id: r.id, message_count: count ?? 0, deleted: count !== undefined };
          });
        }),
      ));
      if (batch.length === 0) break;
      const lastRow = batch.at(-1)!;
      last = [String(lastRow.user_id), String(lastRow.id)];
      const deleted = batch.filter((r) => r.deleted);
      report = {
        conversations: report.conversations + deleted.length,
        messages: report.messages + deleted.reduce((sum, r) => sum + Number(r.message_count), 0),
        batches: report.batches + 1,
      };
      options.onProgress?.(report);
      if (batch.length < batchSize) break;
      if (pauseMs > 0) await pause(pauseMs, signal);
    }
    return report;
  }
}
