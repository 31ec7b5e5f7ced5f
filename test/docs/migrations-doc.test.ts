import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { Migrator, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, useScratchDatabase, type ScratchDatabase } from '../support/backends.js';

/**
 * docs/migrations.md's first two example migrations (`todos`, then
 * `todosDoneIndex` indexing `todos.done`) are what its `new Migrator({
 * migrations: [todos, todosDoneIndex] })` runs: pasted as printed, they must
 * apply and revert. They once did not: `todos` had no `done` column, so the
 * documented migrator failed at migration 2 with `column "done" does not exist`.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));

async function documentedMigration(name: string): Promise<Migration> {
  const doc = readFileSync(`${root}docs/migrations.md`, 'utf8');
  const block = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1] ?? '')
    .find((code) => code.includes(`export const ${name}: Migration`));
  expect(block, `docs/migrations.md has a ts block exporting ${name}`).toBeDefined();
  // The block is TypeScript with a type-only import: strip the types, then evaluate it as a module body.
  const { code } = await transform(block ?? '', { loader: 'ts', format: 'cjs' });
  const module = { exports: {} as Record<string, Migration> };
  new Function('module', 'exports', 'require', code)(module, module.exports, () => ({}));
  const migration = module.exports[name];
  expect(migration).toBeDefined();
  return migration as Migration;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: docs/migrations.md examples`, () => {
    let scratch: ScratchDatabase;
    useScratchDatabase(backend.name, (s) => (scratch = s));

    it('the documented Migrator over [todos, todosDoneIndex] applies both and reverts them', async () => {
      const todos = await documentedMigration('todos');
      const todosDoneIndex = await documentedMigration('todosDoneIndex');
      const migrator = new Migrator({
        db: scratch.database.db,
        migrations: [todos, todosDoneIndex],
        schema: 'doc_app',
        removeBookkeepingAtZero: true,
      });
      const up = await migrator.up();
      expect(up.error?.message).toBeUndefined();
      expect(up.results.map((r) => [r.version, r.status])).toEqual([
        [1, 'applied'],
        [2, 'applied'],
      ]);
      const status = await migrator.status();
      expect([status.current, status.problems, status.inFlight]).toEqual([2, [], []]);
      const down = await migrator.down({ to: 0 });
      expect(down.error?.message).toBeUndefined();
      expect(down.results.map((r) => r.status)).toEqual(['reverted', 'reverted']);
    });
  });
}
