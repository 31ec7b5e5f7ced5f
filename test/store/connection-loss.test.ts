import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/index.js';
import { wrapDriverError } from '../../src/errors/index.js';
import { openStore, type ChatkeepError, type Store } from '../../src/index.js';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';
import { killRepeatedly, retriedWhileUnavailable } from '../support/connection-killer.js';
import { newUser } from '../support/store-fixture.js';

/**
 * The database kills the store's connections while turns are being written
 * (a restart, a failover, an administrator's pg_terminate_backend). A call
 * whose connection died fails with CK_DB_UNAVAILABLE, and its turn may or
 * may not have committed (the commit can land just before the connection
 * dies; no client can know). What must hold: no half turn, no gap, and a
 * retry with the same idempotency key never stores a turn twice — so the
 * retries end with every turn stored exactly once. The store recovers by
 * itself: new connections replace the dead ones.
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING connection-loss cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);

describe.skipIf(!PG_AVAILABLE)('postgres: connections killed while turns are written', () => {
  let database: { url: string; name: string; drop: () => Promise<void> };
  let store: Store;
  beforeAll(async () => {
    database = await createPgDatabase();
    store = await openStore({ url: database.url, poolSize: 4 });
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('failed calls are CK_DB_UNAVAILABLE; retries with the same keys store every turn exactly once, whole and gap-free', { timeout: 120_000 }, async () => {
    const user = newUser('conn-loss');
    const { id } = await store.conversations.create(user, { title: 'under fire' });
    const TURNS = 60;
    // Kill every connection the store holds, again and again, while the turns are written.
    const killer = await killRepeatedly(database.name, "application_name = 'chatkeep'");
    let kills = 0;
    const turn = (i: number) => store.turns.append(user, id, { user: `question ${i}`, assistant: `answer ${i}`, idempotencyKey: `turn-${i}` });
    const failed: number[] = [];
    try {
      // Eight writers at a time, as a busy server would.
      for (let start = 0; start < TURNS; start += 8) {
        const batch = Array.from({ length: Math.min(8, TURNS - start) }, (_, k) => start + k);
        const outcomes = await Promise.allSettled(batch.map(turn));
        outcomes.forEach((outcome, k) => {
          if (outcome.status === 'fulfilled') return;
          const error = outcome.reason as ChatkeepError;
          expect(error.code, error.message).toBe('CK_DB_UNAVAILABLE');
          failed.push(batch[k]!);
        });
      }
    } finally {
      kills = await killer.stop();
    }
    expect(kills).toBeGreaterThan(0);
    // The kills stopped. A retry replays a committed turn or stores a lost one; one may still draw a
    // pooled connection whose death the pool has not noticed yet, and is retried again, as a client would.
    for (const i of failed) {
      for (let attempt = 1; ; attempt++) {
        const error = await turn(i).then(() => undefined, (e: unknown) => e as ChatkeepError);
        if (error === undefined) break;
        expect([error.code, attempt < 5]).toEqual(['CK_DB_UNAVAILABLE', true]);
      }
    }

    const page = await store.messages.list(user, id, { limit: 200 });
    expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: 2 * TURNS }, (_, k) => k + 1));
    const pairs = new Map<string, string>();
    for (let k = 0; k < page.messages.length; k += 2) {
      const [question, answer] = [page.messages[k]!, page.messages[k + 1]!];
      expect([question.role, answer.role, question.turnId]).toEqual(['user', 'assistant', answer.turnId]);
      expect(answer.content).toBe(question.content.replace('question', 'answer'));
      pairs.set(question.content, answer.content);
    }
    expect([...pairs.keys()].sort()).toEqual(Array.from({ length: TURNS }, (_, i) => `question ${i}`).sort());
    console.info(`[connection-loss] ${kills} connections killed, ${failed.length} of ${TURNS} turns failed and were retried`);
  });

  it('streamed turns (transactions of several statements) under the same fire: every failure CK_DB_UNAVAILABLE, retries store each turn once', { timeout: 120_000 }, async () => {
    const user = newUser('conn-loss-stream');
    const { id } = await store.conversations.create(user, { title: 'streamed under fire' });
    const TURNS = 32;
    const killer = await killRepeatedly(database.name, "application_name = 'chatkeep'");
    let kills = 0;
    let failures = 0;
    // What a client does: retry an idempotent call until it answers; any failure must be the retryable one.
    const retried = <T>(call: () => Promise<T>) => retriedWhileUnavailable(call, () => failures++);
    const streamed = async (i: number) => {
      const turn = await retried(() => store.turns.begin(user, id, `question ${i}`, { idempotencyKey: `stream-${i}` }));
      // Text appended is not idempotent: one try, and the commit states the whole reply.
      await store.turns.appendText(user, turn.id, 'partial ').catch((e: unknown) => expect((e as ChatkeepError).code).toBe('CK_DB_UNAVAILABLE'));
      await retried(() => store.turns.commit(user, turn.id, { content: `answer ${i}` }));
    };
    try {
      for (let start = 0; start < TURNS; start += 8) {
        await Promise.all(Array.from({ length: Math.min(8, TURNS - start) }, (_, k) => streamed(start + k)));
      }
    } finally {
      kills = await killer.stop();
    }
    expect(kills).toBeGreaterThan(0);
    const page = await store.messages.list(user, id, { limit: 200 });
    expect(page.messages.map((m) => m.seq)).toEqual(Array.from({ length: 2 * TURNS }, (_, k) => k + 1));
    const answers = new Map<string, string>();
    for (let k = 0; k < page.messages.length; k += 2) {
      const [question, answer] = [page.messages[k]!, page.messages[k + 1]!];
      expect([question.role, answer.role, question.turnId]).toEqual(['user', 'assistant', answer.turnId]);
      answers.set(question.content, answer.content);
    }
    expect(answers).toEqual(new Map(Array.from({ length: TURNS }, (_, i) => [`question ${i}`, `answer ${i}`])));
    console.info(`[connection-loss] streamed: ${kills} connections killed, ${failures} calls failed and were retried`);
  });

  it('a connection killed between two statements of a transaction fails that call (CK_DB_UNAVAILABLE); the process lives on', async () => {
    // pg-pool takes its error listener off a client it lends out, and pg emits 'error' on a client whose
    // connection ends: without chatkeep's own listener that was an uncaught exception, the end of the host process.
    const db = await openDatabase({ url: database.url, poolSize: 1 });
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      const failure = await db.db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
          // The socket's end arrives while the transaction holds the connection and runs nothing.
          await new Promise((resolve) => setTimeout(resolve, 300));
          await sql`select 1`.execute(trx);
        })
        .then(
          () => undefined,
          (error: unknown) => wrapDriverError(error) as ChatkeepError,
        );
      expect(failure?.code, failure?.message).toBe('CK_DB_UNAVAILABLE');
      // The pool replaces the dead connection.
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db.db);
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await admin.end();
      await db.close();
    }
  });
});
