/**
 * The running-coach host app, reduced to what the walkthrough needs (README.md):
 *
 *   npx tsx examples/running-coach/host.ts setup [--users 3000]
 *   npx tsx examples/running-coach/host.ts migrate [--rows-per-second N]
 *   npx tsx examples/running-coach/host.ts report
 *   npx tsx examples/running-coach/host.ts sessions <user>
 *   npx tsx examples/running-coach/host.ts finish
 *   npx tsx examples/running-coach/host.ts down [--to 1]
 *
 * with `--data-dir DIR` (PGlite, default ./.chatkeep/coach) or
 * `--database-url URL` / DATABASE_URL (PostgreSQL), and `--schema coach`.
 *
 * `setup` creates the app as it was before chatkeep (users with legacy
 * onboarding columns, some of them corrupt) and installs chatkeep beside it;
 * `migrate` runs the host's migration 2, which moves every user's legacy
 * onboarding into chatkeep's onboarding sessions and mirrors the old app's
 * writes; `report` prints what it did and which users were kept, and why;
 * `finish` runs migration 3, which removes the mirror once no old app is
 * left; `down` reverts to `--to` (default 1: before migration 2, every
 * user's onboarding back in the legacy fields).
 */
import { parseArgs } from 'node:util';
import { openDatabase, openStore } from '../../src/index.js';
import {
  coachMigrator,
  COACH_FLOW,
  DEFAULT_COACH_SCHEMA,
  ONBOARDING_MIRROR_REMOVED,
  ONBOARDING_MOVED,
} from './migrations/index.js';
import { formatOnboardingReport, onboardingMigrationReport } from './onboarding-report.js';
import { seedCoach } from './seed.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    'data-dir': { type: 'string' },
    'database-url': { type: 'string' },
    schema: { type: 'string', default: DEFAULT_COACH_SCHEMA },
    users: { type: 'string', default: '3000' },
    'rows-per-second': { type: 'string' },
    to: { type: 'string', default: '1' },
  },
});
const [command, user] = positionals;
const schema = values.schema;
if (
  (!['setup', 'migrate', 'report', 'finish', 'down'].includes(command ?? '') &&
    (command !== 'sessions' || user === undefined)) ||
  (values['data-dir'] !== undefined && values['database-url'] !== undefined)
) {
  // Before opening anything: a typo must not create a data folder.
  console.error(
    'usage: host.ts setup [--users N] | migrate [--rows-per-second N] | report | sessions <user> | finish | down [--to N]   [--data-dir DIR | --database-url URL] [--schema coach]',
  );
  process.exit(2);
}
// A --data-dir given here wins over DATABASE_URL, as in openStore and the chatkeep CLI.
const url = values['data-dir'] === undefined ? (values['database-url'] ?? process.env['DATABASE_URL']) : undefined;
const database = await openDatabase(
  url !== undefined && url !== ''
    ? { url }
    : { dataDir: values['data-dir'] ?? './.chatkeep/coach' },
);
let lastPrinted = 0;
const rate = values['rows-per-second'];
const migrator = coachMigrator(database.db, {
  schema,
  ...(rate !== undefined ? { backfillRowsPerSecond: Number(rate) } : {}),
  onEvent: (e) => {
    if (e.type === 'phase-start')
      console.log(`  phase ${e.phase! + 1}/${e.phases}: ${e.description?.split('\n')[0]}`);
    if (
      e.type === 'backfill-progress' &&
      (e.rowsDone === e.rowsTotal || Date.now() - lastPrinted > 500)
    ) {
      lastPrinted = Date.now();
      console.log(`    ${e.rowsDone}/${e.rowsTotal} users, ${e.rowsPerSecond} users/s`);
    }
  },
});

try {
  if (command === 'setup') {
    const { error } = await migrator.up({ to: 1 });
    if (error !== undefined) throw error;
    await seedCoach(database.db, schema, { users: Number(values.users) });
    console.log(
      `Host app: schema "${schema}" on ${database.description}; ${values.users} users with legacy onboarding`,
    );
    // chatkeep beside it, with a real foreign key to the host's users.
    const store = await openStore({ database, users: { table: `${schema}.users`, type: 'text' } });
    await store.close();
    console.log('chatkeep: schema "chatkeep" installed beside it');
  } else if (command === 'migrate') {
    const { error } = await migrator.up({ to: ONBOARDING_MOVED });
    if (error !== undefined) throw error;
    console.log(formatOnboardingReport(await onboardingMigrationReport(database.db, schema), 20));
  } else if (command === 'report') {
    const status = await migrator.status();
    const ran =
      status.applied.some((m) => m.version === 2) || status.inFlight.some((m) => m.version === 2);
    if (!ran) console.log('No report: migration 2 (onboarding-into-chatkeep) has not run');
    else
      console.log(
        formatOnboardingReport(await onboardingMigrationReport(database.db, schema), 1000),
      );
  } else if (command === 'sessions' && user !== undefined) {
    const store = await openStore({ database, migrate: false });
    for (const s of await store.onboarding.list(user, { flow: COACH_FLOW })) {
      console.log(
        `${s.id}  ${s.status}  phase ${s.phase}  ${s.progress}%  goals ${JSON.stringify(s.goals)}`,
      );
    }
    await store.close();
  } else if (command === 'finish') {
    const { error } = await migrator.up({ to: ONBOARDING_MIRROR_REMOVED });
    if (error !== undefined) throw error;
    console.log("Mirror removed: chatkeep holds every user's onboarding; the legacy columns stay");
  } else {
    const to = Number(values.to);
    const { error } = await migrator.down({ to });
    if (error !== undefined) throw error;
    console.log(
      to < ONBOARDING_MOVED
        ? "Reverted: every user's onboarding is back in the legacy fields, the migrated sessions are deleted"
        : `Reverted to migration ${to}`,
    );
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
