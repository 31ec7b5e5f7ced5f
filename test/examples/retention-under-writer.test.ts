import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/index.js';
import { openAppDatabase } from '../support/app-database.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import {
  formatWriterReport,
  opsWithin,
  startSteadyLoop,
  startSteadyWriter,
} from '../support/steady-writer.js';

const DAY = 86_400_000;
const USERS = 40;
const OLD_PER_USER = 15;
const user = (i: number) => `member-${String(i).padStart(2, '0')}`;

/** Creates `count` conversations of `userId` with `turns` turns each; returns their ids. */
async function conversations(
  store: Store,
  userId: string,
  count: number,
  turns: number,
): Promise<string[]> {
  const ids: string[] = [];
  for (let c = 0; c < count; c++) {
    const { id } = await store.conversations.create(userId);
    for (let t = 0; t < turns; t++)
      await store.turns.append(userId, id, { user: `q${t}`, assistant: `a${t}` });
    ids.push(id);
  }
  return ids;
}

/**
 * R-CHAT-6 (issue 4, scenario 4): retention deletes old conversations in
 * short batches while the app keeps appending turns — to its own
 * conversations and to recent conversations of the very users being purged —
 * with zero errors; exactly the conversations inactive before the cut-off
 * go, with all their messages, and everything else stays.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: retention purge under a steady writer`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it(
      'purges exactly the old conversations in batches; the writers see zero errors',
      { timeout: 90_000 },
      async () => {
        const store = await openStore({ database: scratch.database });
        const { db } = scratch.database;
        const old: string[] = [];
        const borderline: string[] = [];
        const recent = new Map<string, string>();
        await Promise.all(
          Array.from({ length: USERS }, async (_, i) => {
            old.push(...(await conversations(store, user(i), OLD_PER_USER, 2)));
            borderline.push(...(await conversations(store, user(i), 1, 1)));
            for (const id of await conversations(store, user(i), 2, 1)) recent.set(id, user(i));
          }),
        );
        // 120 days of silence: purged. 89 days: kept (the cut-off is 90).
        await sql`update chatkeep.conversations set created_at = now() - interval '120 days', last_message_at = now() - interval '120 days'
                 where id = any(${old}::uuid[])`.execute(db);
        await sql`update chatkeep.conversations set created_at = now() - interval '89 days', last_message_at = now() - interval '89 days'
                 where id = any(${borderline}::uuid[])`.execute(db);

        const app = await openAppDatabase(scratch);
        const appStore = await openStore({ database: app, migrate: false });
        const turns = await startSteadyWriter(appStore, { intervalMs: 5 });
        const recentIds = [...recent.keys()];
        const neighbours = startSteadyLoop(
          async (i) => {
            const id = recentIds[i % recentIds.length]!;
            await appStore.turns.append(recent.get(id)!, id, {
              user: `later ${i}`,
              assistant: `reply ${i}`,
            });
          },
          { intervalMs: 5 },
        );

        await new Promise((resolve) => setTimeout(resolve, 50));
        const batchEnds: number[] = [];
        const started = performance.now();
        const report = await store.retention.purge({
          before: new Date(Date.now() - 90 * DAY),
          batchSize: 20,
          pauseMs: 2,
          onProgress: () => batchEnds.push(performance.now()),
        });
        const ended = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 50));
        const [writer, neighbour] = [await turns.stop(), await neighbours.stop()];
        const longestBatch = Math.max(
          ...batchEnds.map((t, i) => t - (batchEnds[i - 1] ?? started)),
        );
        console.log(
          `[retention ${backend.name}] purged ${report.conversations} conversations / ${report.messages} messages in ${report.batches} batches, ` +
            `${Math.round(ended - started)} ms; longest batch ${longestBatch.toFixed(1)} ms`,
        );
        console.log(
          formatWriterReport(
            `retention ${backend.name} own-conversation writer, ${opsWithin(writer, started, ended)} turns inside the purge`,
            writer,
          ),
        );
        console.log(
          formatWriterReport(
            `retention ${backend.name} purged users' recent conversations, ${opsWithin(neighbour, started, ended)} turns inside the purge`,
            neighbour,
          ),
        );

        expect(writer.errors).toEqual([]);
        expect(neighbour.errors).toEqual([]);
        // On PostgreSQL the writers are served while the purge runs (on PGlite, one session, between its batches).
        if (backend.name === 'postgres')
          expect(
            opsWithin(writer, started, ended) + opsWithin(neighbour, started, ended),
          ).toBeGreaterThan(0);
        expect(report).toEqual({
          conversations: old.length,
          messages: old.length * 4,
          batches: Math.ceil(old.length / 20),
        });

        // Exactly the old ones are gone, messages included; everything else is whole.
        const { rows: left } = await sql<{ id: string; message_count: number }>`
        select id, message_count from chatkeep.conversations order by id`.execute(db);
        const expected = [...borderline, ...recentIds, ...turns.conversationIds].sort();
        expect(left.map((c) => c.id)).toEqual(expected);
        const { rows: orphans } = await sql<{ n: number }>`
        select count(*)::int as n from chatkeep.messages where conversation_id = any(${old}::uuid[])`.execute(
          db,
        );
        expect(orphans[0]!.n).toBe(0);
        const { rows: counts } = await sql<{ n: number; pairs: number }>`
        select count(*)::int as n, count(distinct turn_id)::int as pairs from chatkeep.messages
         where conversation_id = any(${[...recentIds, ...turns.conversationIds]}::uuid[])`.execute(
          db,
        );
        expect(counts[0]).toEqual({
          n: 2 * (recentIds.length + writer.turns + neighbour.turns),
          pairs: recentIds.length + writer.turns + neighbour.turns,
        });

        await appStore.close();
        await app.close();
        await store.close();
      },
    );
  });
}
