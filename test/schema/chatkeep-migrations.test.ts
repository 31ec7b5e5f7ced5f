import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../../src/migrate/index.js';
import { CHATKEEP_MIGRATIONS, chatkeepMigrator, resolveSchemaSettings, type SchemaSettings } from '../../src/schema/index.js';
import { BACKENDS, scratchDatabase } from '../support/backends.js';

/**
 * R-MIG-4: for every one of chatkeep's migrations, up then down returns the
 * schema to exactly what it was (fingerprint of tables, columns, types,
 * constraints, indexes, triggers, functions, policies), on both backends and
 * for both ways of referencing users; down to 0 leaves nothing of chatkeep.
 */
const PROFILES: [string, SchemaSettings][] = [
  ['opaque user ids', resolveSchemaSettings({})],
  ['host users table', resolveSchemaSettings({ users: { table: 'public.users', column: 'id', type: 'bigint' }, maxContentLength: 1000, roles: ['user', 'assistant', 'system', 'tool'] })],
];

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: chatkeep migrations round trip`, () => {
    for (const [profile, settings] of PROFILES) {
      it(`up then down of every migration restores the identical schema (${profile})`, async () => {
        const scratch = await scratchDatabase(backend.name);
        const db = scratch.database.db;
        try {
          if (settings.users !== null) {
            await sql`create table public.users (id bigint primary key, name text)`.execute(db);
            await sql`insert into public.users values (1, 'host row')`.execute(db);
          }
          const schemas = ['chatkeep', 'public'];
          const pristine = await fingerprint(db, schemas);
          const migrator = chatkeepMigrator(db, { schema: 'chatkeep', settings });
          for (const migration of CHATKEEP_MIGRATIONS) {
            const before = await fingerprint(db, schemas);
            const up = await migrator.up({ to: migration.version });
            expect(up.error, up.error?.message).toBeUndefined();
            const applied = await fingerprint(db, schemas);
            expect(applied.hash).not.toBe(before.hash);
            const down = await migrator.down({ to: migration.version - 1 });
            expect(down.error, down.error?.message).toBeUndefined();
            const after = await fingerprint(db, schemas);
            expect(after.lines).toEqual(before.lines);
            const again = await migrator.up({ to: migration.version });
            expect(again.error).toBeUndefined();
            expect((await fingerprint(db, schemas)).lines).toEqual(applied.lines);
          }
          const toZero = await migrator.down({ to: 0 });
          expect(toZero.error, toZero.error?.message).toBeUndefined();
          expect((await fingerprint(db, schemas)).lines).toEqual(pristine.lines);
          const { rows } = await sql`select 1 from pg_namespace where nspname = 'chatkeep'`.execute(db);
          expect(rows).toEqual([]);
          if (settings.users !== null) {
            const host = await sql`select * from public.users`.execute(db);
            expect(host.rows).toEqual([{ id: backend.name === 'postgres' ? '1' : 1, name: 'host row' }]);
          }
        } finally {
          await scratch.drop();
        }
      });
    }
  });
}

describe('schema snapshot', () => {
  it('src/schema/_schema.txt matches what the migrations build (run `npm run schema:snapshot` after a schema change)', async () => {
    const scratch = await scratchDatabase('pglite');
    try {
      const migrator = chatkeepMigrator(scratch.database.db, { schema: 'chatkeep', settings: resolveSchemaSettings({}) });
      expect((await migrator.up()).error).toBeUndefined();
      const { lines } = await fingerprint(scratch.database.db, ['chatkeep']);
      const committed = readFileSync(new URL('../../src/schema/_schema.txt', import.meta.url), 'utf8');
      expect(lines.join('\n') + '\n').toBe(committed);
    } finally {
      await scratch.drop();
    }
  });
});
