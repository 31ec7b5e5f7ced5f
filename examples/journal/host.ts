/**
 * The journal host app, reduced to what the walkthrough needs (README.md):
 *
 *   npx tsx examples/journal/host.ts setup [--users 200]
 *   npx tsx examples/journal/host.ts migrate
 *   npx tsx examples/journal/host.ts rollout <percent>
 *   npx tsx examples/journal/host.ts read <user>
 *   npx tsx examples/journal/host.ts write <user>
 *   npx tsx examples/journal/host.ts down
 *
 * with `--data-dir DIR` (PGlite, default ./.chatkeep/journal) or
 * `--database-url URL` / DATABASE_URL (PostgreSQL), and `--schema journal`.
 *
 * `migrate` adds seed 004's analysis fields and backfills them; `rollout`
 * moves that percentage of users to the new reader (the
 * `journal.analysis-v2` flag); `read` and `write` act as the app does for
 * one user — through the old or the new code, as the flag says.
 */
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { openDatabase, openStore } from '../../src/index.js';
import { ANALYSIS_V2_FLAG, readAnalyses } from './analysis-readers.js';
import { writeAnalysisV1, writeAnalysisV2 } from './analysis-writers.js';
import { DEFAULT_JOURNAL_SCHEMA, journalMigrator } from './migrations/index.js';
import { seedJournal } from './seed.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    'data-dir': { type: 'string' },
    'database-url': { type: 'string' },
    schema: { type: 'string', default: DEFAULT_JOURNAL_SCHEMA },
    users: { type: 'string', default: '200' },
  },
});
const [command, argument] = positionals;
const schema = values.schema;
if (
  (!['setup', 'migrate', 'down'].includes(command ?? '') &&
    (!['rollout', 'read', 'write'].includes(command ?? '') || argument === undefined)) ||
  (values['data-dir'] !== undefined && values['database-url'] !== undefined)
) {
  // Before opening anything: a typo must not create a data folder.
  console.error(
    'usage: host.ts setup [--users N] | migrate | rollout <percent> | read <user> | write <user> | down   [--data-dir DIR | --database-url URL]',
  );
  process.exit(2);
}
// A --data-dir given here wins over DATABASE_URL, as in openStore and the chatkeep CLI.
const url = values['data-dir'] === undefined ? (values['database-url'] ?? process.env['DATABASE_URL']) : undefined;
const database = await openDatabase(
  url !== undefined && url !== ''
    ? { url }
    : { dataDir: values['data-dir'] ?? './.chatkeep/journal' },
);
const migrator = journalMigrator(database.db, {
  schema,
  onEvent: (e) => {
    if (e.type === 'phase-start')
      console.log(`  phase ${e.phase! + 1}/${e.phases}: ${e.description?.split('\n')[0]}`);
    if (e.type === 'backfill-progress' && e.rowsDone === e.rowsTotal)
      console.log(`    ${e.rowsDone} rows, ${e.rowsPerSecond} rows/s`);
  },
});

try {
  if (command === 'setup') {
    const { error } = await migrator.up({ to: 1 });
    if (error !== undefined) throw error;
    await seedJournal(database.db, schema, { users: Number(values.users) });
    const store = await openStore({ database, users: { table: `${schema}.users`, type: 'text' } });
    await store.flags.define(ANALYSIS_V2_FLAG, {
      description: 'read the seed 004 analysis fields',
      enabled: true,
      rolloutPercent: 0,
    });
    await store.close();
    console.log(
      `Host app: schema "${schema}" on ${database.description}; chatkeep beside it; flag ${ANALYSIS_V2_FLAG} at 0 %`,
    );
  } else if (command === 'migrate') {
    const { error } = await migrator.up();
    if (error !== undefined) throw error;
    console.log('Migrated: the new fields are filled and verified; the flag may be turned up');
  } else if (command === 'rollout' && argument !== undefined) {
    const store = await openStore({ database, migrate: false });
    const flag = await store.flags.setRollout(ANALYSIS_V2_FLAG, Number(argument));
    console.log(`${ANALYSIS_V2_FLAG}: ${flag.rolloutPercent} % of users read the new fields`);
    await store.close();
  } else if ((command === 'read' || command === 'write') && argument !== undefined) {
    const store = await openStore({ database, migrate: false });
    const read = await readAnalyses(store.flags, database.db, schema, argument);
    if (command === 'read') {
      console.log(
        `${argument} reads the ${read.shape === 'v2' ? 'new fields' : 'old shape'}; latest:`,
      );
      console.log(JSON.stringify(read.rows.at(-1), null, 2));
    } else {
      const { rows } = await sql<{
        id: string | number;
      }>`select id from ${sql.id(schema, 'entries')} where user_id = ${argument} order by id desc limit 1`.execute(
        database.db,
      );
      const run = {
        userId: argument,
        entryId: String(rows[0]!.id),
        result: { sentiment: 0.4, themes: ['rest'] },
      };
      const id =
        read.shape === 'v2'
          ? await writeAnalysisV2(database.db, schema, {
              ...run,
              modelType: 'gemini_2_5_pro',
              modelVersion: '2025-08-01',
              requestTokens: 640,
              responseTokens: 210,
              cachingUsed: false,
              batchProcessed: false,
              regionProcessed: 'eu-west4',
            })
          : await writeAnalysisV1(database.db, schema, {
              ...run,
              model: 'gemini_2_5_flash_lite@2025-06-17',
              processingMetadata: { requestTokens: 640, responseTokens: 210, cached: false },
            });
      console.log(`analysis ${id} written by the ${read.shape === 'v2' ? 'new' : 'old'} code`);
    }
    await store.close();
  } else {
    const { error } = await migrator.down({ to: 1 });
    if (error !== undefined) throw error;
    console.log('Reverted: the new fields are gone; everything new code wrote is in the old shape');
  }
} catch (error) {
  console.error(
    error instanceof Error
      ? `${(error as { code?: string }).code ?? 'Error'}: ${error.message}`
      : error,
  );
  process.exitCode = 1;
} finally {
  await database.close();
}
