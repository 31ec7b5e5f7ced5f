import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/index.js';
import { IMAGE_CACHE_VARIABLE } from '../../src/db/cluster-image.js';

/**
 * New embedded databases start from the image of a fresh cluster when
 * CHATKEEP_PGLITE_IMAGE_CACHE names a folder (src/db/cluster-image.ts): the
 * first one writes it, later ones load it, a damaged one is ignored and
 * rebuilt, and without the variable nothing is written.
 */
describe('the fresh-cluster image cache', () => {
  const root = mkdtempSync(join(tmpdir(), 'ck-image-'));
  const saved = process.env[IMAGE_CACHE_VARIABLE];
  let cache: string;
  let opened: Database[] = [];
  const open = async (dataDir: string) => {
    const database = await openDatabase({ dataDir });
    opened.push(database);
    return database;
  };
  const imageFiles = () => (existsSync(cache) ? readdirSync(cache).filter((f) => f.endsWith('.image')) : []);
  const userTables = async (database: Database) =>
    (await sql<{ n: number }>`select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')`.execute(database.db)).rows[0]!.n;

  beforeEach(() => {
    cache = mkdtempSync(join(root, 'cache-'));
    process.env[IMAGE_CACHE_VARIABLE] = cache;
  });
  afterEach(async () => {
    for (const database of opened) await database.close();
    opened = [];
  });
  afterAll(() => {
    if (saved === undefined) delete process.env[IMAGE_CACHE_VARIABLE];
    else process.env[IMAGE_CACHE_VARIABLE] = saved;
    rmSync(root, { recursive: true, force: true });
  });

  it('the first new database writes the image; later memory databases and data folders start from it, empty and independent', async () => {
    const first = await open('memory://');
    await sql`create table kept (x int)`.execute(first.db);
    const [file] = imageFiles();
    expect(file).toMatch(/^pglite-\d+\.\d+\.\d+.*\.image$/);
    const written = readFileSync(join(cache, file!));

    const second = await open('memory://');
    // The image was taken before anything was written to the first database.
    expect(await userTables(second)).toBe(0);
    await sql`create table t (x int)`.execute(second.db);
    await sql`insert into t values (1), (2)`.execute(second.db);
    expect(await userTables(first)).toBe(1);

    const folder = join(root, 'data');
    const fromImage = await open(folder);
    expect(await userTables(fromImage)).toBe(0);
    await sql`create table persisted (x int)`.execute(fromImage.db);
    await sql`insert into persisted values (42)`.execute(fromImage.db);
    await fromImage.close();
    opened = opened.filter((d) => d !== fromImage);
    const reopened = await open(folder);
    expect((await sql<{ x: number }>`select x from persisted`.execute(reopened.db)).rows).toEqual([{ x: 42 }]);

    // Loading did not rewrite it.
    expect(readFileSync(join(cache, file!)).equals(written)).toBe(true);
  });

  it('a damaged image is ignored (the database is built fresh) and replaced by a whole one', async () => {
    await open('memory://');
    const [file] = imageFiles();
    const path = join(cache, file!);
    const whole = readFileSync(path);
    const torn = whole.subarray(0, Math.floor(whole.length / 3));
    writeFileSync(path, torn);

    const database = await open('memory://');
    expect((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows).toEqual([{ one: 1 }]);
    expect(await userTables(database)).toBe(0);
    const rebuilt = readFileSync(path);
    expect(rebuilt.length).toBeGreaterThan(torn.length);
    // The first line is the SHA-256 of the rest.
    expect(rebuilt.subarray(0, 64).toString('latin1')).toBe(createHash('sha256').update(rebuilt.subarray(65)).digest('hex'));

    // One changed byte with the length kept is caught too.
    const flipped = Buffer.from(rebuilt);
    flipped[flipped.length - 100] = flipped[flipped.length - 100]! ^ 0xff;
    writeFileSync(path, flipped);
    const again = await open('memory://');
    expect(await userTables(again)).toBe(0);
    expect(readFileSync(path).equals(flipped)).toBe(false);
  });

  it('a cache that cannot be written (a file where the folder should be) is skipped: databases still open, and nothing is cached', async () => {
    const blocked = join(root, 'not-a-folder');
    writeFileSync(blocked, 'in the way');
    process.env[IMAGE_CACHE_VARIABLE] = join(blocked, 'cache');
    // (Memory stores and new data folders save through the same saveClusterImage; one of them is enough.)
    const database = await open('memory://');
    expect((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows).toEqual([{ one: 1 }]);
    expect(await userTables(database)).toBe(0);
    expect(readFileSync(blocked, 'utf8')).toBe('in the way');
  });

  it('two processes building the image at once leave one whole image, which a third loads', async () => {
    // The built package (npm test builds first), as a user's processes run it.
    const dist = new URL('../../dist/db/index.js', import.meta.url).href;
    const script = `const { openDatabase } = await import(${JSON.stringify(dist)});
      const d = await openDatabase({ dataDir: 'memory://' }); await d.close(); console.log('ok');`;
    const run = () => promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, [IMAGE_CACHE_VARIABLE]: cache } });
    const outputs = await Promise.all([run(), run()]);
    expect(outputs.map((o) => o.stdout.trim())).toEqual(['ok', 'ok']);
    expect(readdirSync(cache)).toEqual([imageFiles()[0]]); // no temp file left behind
    const bytes = readFileSync(join(cache, imageFiles()[0]!));
    expect(bytes.subarray(0, 64).toString('latin1')).toBe(createHash('sha256').update(bytes.subarray(65)).digest('hex'));
    const loaded = await open('memory://');
    expect(await userTables(loaded)).toBe(0);
    expect(readFileSync(join(cache, imageFiles()[0]!)).equals(bytes)).toBe(true); // loaded, not rebuilt
  });

  it('without the variable nothing is cached', async () => {
    delete process.env[IMAGE_CACHE_VARIABLE];
    const database = await open('memory://');
    expect((await sql<{ one: number }>`select 1 as one`.execute(database.db)).rows).toEqual([{ one: 1 }]);
    expect(imageFiles()).toEqual([]);
  });
});
