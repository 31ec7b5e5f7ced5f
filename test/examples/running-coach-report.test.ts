import { describe, expect, it } from 'vitest';
import { coachMigrator, ONBOARDING_MOVED } from '../../examples/running-coach/migrations/index.js';
import {
  formatOnboardingReport,
  onboardingMigrationReport,
} from '../../examples/running-coach/onboarding-report.js';
import { seedCoach } from '../../examples/running-coach/seed.js';
import { openStore } from '../../src/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * `host.ts migrate` and `report` print the users kept in the host table; past
 * the limit, the last line points at the view that lists them all, under the
 * host's real schema name, so that the query can be pasted as printed
 * (examples/running-coach/README.md).
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: the running coach's report`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('names every outcome, and the view with the rest of the kept users', async () => {
      const { database } = scratch;
      const migrator = coachMigrator(database.db);
      expect((await migrator.up({ to: 1 })).error).toBeUndefined();
      await seedCoach(database.db, 'coach', { users: 40 });
      const store = await openStore({ database, users: { table: 'coach.users', type: 'text' } });
      await store.close();
      expect((await migrator.up({ to: ONBOARDING_MOVED })).error).toBeUndefined();

      const report = await onboardingMigrationReport(database.db, 'coach');
      expect(report.outcomes).toEqual({ active: 12, completed: 16, corrupt: 4, 'not-started': 8 });
      const text = formatOnboardingReport(report, 1);
      expect(text.split('\n').slice(-3)).toEqual([
        'Kept in the host table, not migrated (4):',
        expect.stringMatching(/^ {2}runner-\d{6} {2}corrupt: /),
        '  … and 3 more (select * from coach.onboarding_migration_issues)',
      ]);
    });
  });
}
