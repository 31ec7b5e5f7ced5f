import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const run = join(fileURLToPath(new URL('./.test-build', import.meta.url)), `run-${process.pid}`);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['./test/support/global-setup.ts'],
    // Each run has its own folder for the transpiled child scripts (test/support/child-scripts.ts),
    // named after this process, which also runs the global setup.
    // New embedded databases start from the image of a fresh cluster (src/db/cluster-image.ts):
    // ~0.65 s instead of ~2.3 s each, in the test processes and the CLI children they start.
    // It is kept in the run's folder, so every run builds the image afresh.
    env: { CHATKEEP_TEST_BUILD: run, CHATKEEP_PGLITE_IMAGE_CACHE: join(run, 'pglite-image') },
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
