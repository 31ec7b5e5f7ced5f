import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import {
  ANALYSIS_V2_FLAG,
  readAnalyses,
  readAnalysesV1,
  readAnalysesV2,
  type AnalysisV1,
  type AnalysisV2,
} from '../../examples/journal/analysis-readers.js';
import { writeAnalysisV1, writeAnalysisV2 } from '../../examples/journal/analysis-writers.js';
import { journalMigrator } from '../../examples/journal/migrations/index.js';
import { journalUserId, seedJournal } from '../../examples/journal/seed.js';
import { openStore, type Store } from '../../src/index.js';
import { fingerprint } from '../../src/migrate/index.js';
import { openAppDatabase } from '../support/app-database.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';
import {
  formatWriterReport,
  opsWithin,
  startSteadyLoop,
  startSteadyWriter,
} from '../support/steady-writer.js';

const HOST = 'journal';
const USERS = 200;
const ENTRIES_PER_USER = 15;

type V2Fields = Omit<AnalysisV2, 'id' | 'entryId'>;

/** The oracle: seed 004's new fields as the old shape says them, written again in TypeScript. */
function v2Of(row: AnalysisV1): V2Fields {
  const m = row.model;
  const at = m === null ? -1 : m.indexOf('@');
  const p = row.processingMetadata ?? {};
  const int = (v: unknown) => (typeof v === 'number' && /^[0-9]{1,9}$/.test(String(v)) ? v : null);
  const bool = (v: unknown) => (typeof v === 'boolean' ? v : null);
  return {
    modelType: m === null ? null : (at >= 0 ? m.slice(0, at) : m) || null,
    modelVersion: m === null || at < 0 ? null : m.slice(at + 1) || null,
    requestTokens: int(p['requestTokens']),
    responseTokens: int(p['responseTokens']),
    cachingUsed: bool(p['cached']),
    batchProcessed: bool(p['batch']),
    regionProcessed: typeof p['region'] === 'string' ? p['region'] : null,
  };
}

function fieldsOf(row: AnalysisV2): V2Fields {
  const { id: _id, entryId: _entry, ...fields } = row;
  return fields;
}

async function allRows(
  db: Kysely<any>,
  reader: typeof readAnalysesV1 | typeof readAnalysesV2,
  users: readonly string[],
) {
  const rows = new Map<string, AnalysisV1 | AnalysisV2>();
  for (const user of users) for (const row of await reader(db, HOST, user)) rows.set(row.id, row);
  return rows;
}

/**
 * Seed 004 MIGRATION-002 (issue 4, scenario 3): seven optional analysis
 * fields are added and backfilled from the existing rows while the app keeps
 * writing (chat turns, and analyses in the old shape) with zero errors;
 * readers then move to the new fields per user behind a percentage flag,
 * new code writes only the new fields, and both readers keep working during
 * and after the rollout; `down` loses nothing new code wrote.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: journal — new analysis fields, backfilled, rolled out behind a flag`,
    () => {
      let scratch: ScratchDatabase;
      useScratchDatabase(backend.name, (s) => (scratch = s));

      it(
        'old and new readers both work during and after the rollout; down loses nothing',
        { timeout: 90_000 },
        async () => {
          const { db } = scratch.database;
          const migrator = journalMigrator(db, { schema: HOST });
          expect((await migrator.up({ to: 1 })).error).toBeUndefined();
          await seedJournal(db, HOST, { users: USERS, entriesPerUser: ENTRIES_PER_USER });
          await sql`insert into journal.users (id, name) values ('steady-writer', 'Writer')`.execute(
            db,
          );
          const users = Array.from({ length: USERS }, (_, i) => journalUserId(i + 1));
          const store = await openStore({
            database: scratch.database,
            users: { table: 'journal.users', type: 'text' },
          });
          await store.flags.define(ANALYSIS_V2_FLAG, {
            description: 'read seed 004 analysis fields',
            enabled: true,
            rolloutPercent: 0,
          });
          const hostShapeBefore = await fingerprint(db, [HOST]);
          const { rows: entryRows } = await sql<{
            id: string | number;
            user_id: string;
          }>`select id, user_id from journal.entries order by id`.execute(db);
          const entryOf = new Map(entryRows.map((e) => [e.user_id, String(e.id)]));

          for (const { report } of await migrator.lint({ direction: 'up' })) {
            expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
          }

          // The application: chat turns, and the journal app reading (routed by the flag) and writing analyses.
          const app = await openAppDatabase(scratch);
          const appStore = await openStore({
            database: app,
            migrate: false,
            flagCache: { ttlMs: 50 },
          });
          const turns = await startSteadyWriter(appStore, { intervalMs: 5 });
          const shapesRead = { v1: 0, v2: 0 };
          const writtenV2 = new Map<string, V2Fields>();
          const host = startSteadyLoop(
            async (i) => {
              const user = users[i % users.length]!;
              const read = await readAnalyses(appStore.flags, app.db, HOST, user);
              shapesRead[read.shape]++;
              if (read.rows.length < ENTRIES_PER_USER)
                throw new Error(`${user}: ${read.rows.length} analyses read`);
              const run = {
                userId: user,
                entryId: entryOf.get(user)!,
                result: { sentiment: 0.5, themes: ['rest'] },
              };
              if (read.shape === 'v1') {
                await writeAnalysisV1(app.db, HOST, {
                  ...run,
                  model: `gpt_4@${i}`,
                  processingMetadata: { requestTokens: i, cached: i % 2 === 0, retries: 0 },
                });
              } else {
                const fields: V2Fields = {
                  modelType: 'gemini_2_5_pro',
                  modelVersion: i % 4 === 0 ? null : `v${i}`,
                  requestTokens: i,
                  responseTokens: i % 3 === 0 ? null : 2 * i,
                  cachingUsed: i % 2 === 0,
                  batchProcessed: null,
                  regionProcessed: 'eu-west4',
                };
                writtenV2.set(await writeAnalysisV2(app.db, HOST, { ...run, ...fields }), fields);
              }
            },
            { intervalMs: 5 },
          );

          await new Promise((resolve) => setTimeout(resolve, 50));
          const upStarted = performance.now();
          const up = await migrator.up();
          const upEnded = performance.now();
          expect(up.error).toBeUndefined();
          expect(await agreement(db)).toEqual({ rows: expect.any(Number), disagreeing: 0 });

          // The rollout: 30 %, then everyone; the routed reader follows each user's flag.
          const stage = async (percent: number) => {
            await store.flags.setRollout(ANALYSIS_V2_FLAG, percent);
            await new Promise((resolve) => setTimeout(resolve, 400));
            await expectRouted(store, appStore, app.db, users);
          };
          await stage(30);
          const inAt30 = (
            await Promise.all(users.map((u) => store.flags.isEnabled(u, ANALYSIS_V2_FLAG)))
          ).filter(Boolean).length;
          expect(inAt30).toBeGreaterThan(USERS * 0.15);
          expect(inAt30).toBeLessThan(USERS * 0.45);
          await stage(100);

          const [turnReport, hostReport] = [await turns.stop(), await host.stop()];
          const window = `up ${Math.round(upEnded - upStarted)} ms`;
          console.log(
            formatWriterReport(
              `journal ${backend.name} chat writer, up + rollout; ${window}, ${opsWithin(turnReport, upStarted, upEnded)} turns inside it`,
              turnReport,
            ),
          );
          console.log(
            formatWriterReport(
              `journal ${backend.name} host reader/writer, up + rollout; ${window}, ${opsWithin(hostReport, upStarted, upEnded)} inside it`,
              hostReport,
            ),
          );
          console.log(
            `[journal ${backend.name}] reads: ${shapesRead.v1} old shape, ${shapesRead.v2} new fields; ${writtenV2.size} analyses written by new code`,
          );
          expect(turnReport.errors).toEqual([]);
          expect(hostReport.errors).toEqual([]);
          expect(shapesRead.v1).toBeGreaterThan(0);
          expect(shapesRead.v2).toBeGreaterThan(0);
          expect(writtenV2.size).toBeGreaterThan(0);
          if (backend.name === 'postgres') {
            expect(opsWithin(turnReport, upStarted, upEnded)).toBeGreaterThan(0);
            expect(opsWithin(hostReport, upStarted, upEnded)).toBeGreaterThan(0);
          }

          // Every row, old and new, read both ways: the new fields are what the old shape says.
          const v1 = await allRows(db, readAnalysesV1, users);
          const v2 = await allRows(db, readAnalysesV2, users);
          expect(v2.size).toBe(v1.size);
          for (const [id, row] of v1)
            expect({ id, ...fieldsOf(v2.get(id) as AnalysisV2) }).toEqual({
              id,
              ...v2Of(row as AnalysisV1),
            });
          for (const [id, fields] of writtenV2)
            expect(fieldsOf(v2.get(id) as AnalysisV2)).toEqual(fields);

          // Going back: flag off, then down — lint-clean, and nothing new code wrote is lost.
          await store.flags.setRollout(ANALYSIS_V2_FLAG, 0);
          for (const { report } of await migrator.lint({ direction: 'down', to: 1 })) {
            expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
          }
          const down = await migrator.down({ to: 1 });
          expect(down.error).toBeUndefined();
          expect((await fingerprint(db, [HOST])).hash).toBe(hostShapeBefore.hash);
          const afterDown = await allRows(db, readAnalysesV1, users);
          expect([...afterDown.values()]).toEqual([...v1.values()]);
          for (const [id, fields] of writtenV2)
            expect(v2Of(afterDown.get(id) as AnalysisV1)).toEqual(fields);

          await appStore.close();
          await app.close();
          await store.close();
        },
      );
    },
  );
}

async function agreement(db: Kysely<any>): Promise<{ rows: number; disagreeing: number }> {
  const { rows } = await sql<{ rows: number; disagreeing: number }>`
    select count(*)::int as rows,
           count(*) filter (where model_type is null and model is not null)::int as disagreeing
      from journal.ai_analysis`.execute(db);
  return rows[0]!;
}

/** Each user's routed read has the shape their flag says, and its rows carry the same values either way. */
async function expectRouted(
  store: Store,
  appStore: Store,
  db: Kysely<any>,
  users: readonly string[],
): Promise<void> {
  for (const user of users.slice(0, 40)) {
    const read = await readAnalyses(appStore.flags, db, HOST, user);
    expect(read.shape).toBe((await store.flags.isEnabled(user, ANALYSIS_V2_FLAG)) ? 'v2' : 'v1');
    // The app keeps writing meanwhile: compare the rows both reads saw.
    const v2 = new Map((await readAnalysesV2(db, HOST, user)).map((r) => [r.id, r]));
    const v1 = (await readAnalysesV1(db, HOST, user)).filter((r) => v2.has(r.id));
    expect(v1.map((r) => fieldsOf(v2.get(r.id)!))).toEqual(v1.map(v2Of));
  }
}
