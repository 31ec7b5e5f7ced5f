/**
 * Writes src/schema/_schema.txt: the fingerprint lines of chatkeep's schema as
 * the migrations build it (default settings, PGlite), so every schema change
 * shows up in review as a diff of this file. `npm run schema:snapshot`.
 */
import { writeFileSync } from 'node:fs';
import { openDatabase } from '../src/db/index.js';
import { fingerprint } from '../src/migrate/index.js';
import { chatkeepMigrator, resolveSchemaSettings } from '../src/schema/index.js';

const database = await openDatabase({ dataDir: 'memory://' });
const result = await chatkeepMigrator(database.db, { schema: 'chatkeep', settings: resolveSchemaSettings({}) }).up();
if (result.error) throw result.error;
const { lines } = await fingerprint(database.db, ['chatkeep']);
writeFileSync(new URL('../src/schema/_schema.txt', import.meta.url), lines.join('\n') + '\n');
await database.close();
console.log(`src/schema/_schema.txt: ${lines.length} objects`);
