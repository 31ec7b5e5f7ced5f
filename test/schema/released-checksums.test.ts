import { describe, expect, it } from 'vitest';
import { checksumOf } from '../../src/migrate/checksum.js';
import { CHATKEEP_MIGRATIONS } from '../../src/schema/migrations.js';
import { DEFAULT_SCHEMA_SETTINGS, settingsToJson } from '../../src/schema/schema-settings.js';

/**
 * Every database chatkeep was installed in records the checksum of each
 * migration it applied, and the store refuses to open when a shipped
 * migration renders other SQL than it recorded (CK_MIGRATION_CHECKSUM). A
 * released migration must therefore never change: a fix is a new migration.
 * These are the checksums, with the default settings, of the migrations
 * released so far; a change that alters one would lock every existing
 * install out on upgrade. (docs/cli.md shows the first twelve digits.)
 */
const RELEASED: Readonly<Record<number, string>> = {
  1: 'f5dfcd43fc672f2203ff181eda04815bbd5d9b3420afe690e30d33fa3f145a64',
  2: 'bc13744de0807916e4edaebcba54b80682e1eb514f9e0c374aaa91dd0b8f62e1',
  3: 'bd9a40d0852feafdc983860e6da3db536420a383d45aa8e29469205e58ceb976',
  4: 'c3643697ba4172ed7f87d3c86b75c19d168a1eea84fcc725c82a07aaa22c6868',
  5: '33c26c6f267ca1918462c26b1a3f8d0c42cb0d8aff1c11cb32beb775e017a09d',
  6: '0a2f7afd602b7ad88ff39f85a130c9e1155a3870781bf1656a8302b072ac8f7c',
  7: '1110b7e546fdee92d1af6d3ef904a033c956a1253471eb07f13bb147318438df',
  8: '0c0ac83d70d1be26e3f5dae7b5c8fa5d624d0d3fb479f513456d308616594986',
  9: '511d4c1da222a42b8575771112ca0141c0f447ae7c4d54bf4e65cde1b50f0ad5',
  10: 'f19fa3cfa6515dcf01303f7de5f22c0ff84f6c6947f790bd638f9e2ad2fb88cd',
};

describe("chatkeep's released migrations", () => {
  it.each(Object.entries(RELEASED))('%s renders the SQL it was released with (its checksum is unchanged)', (version, checksum) => {
    const migration = CHATKEEP_MIGRATIONS.find((m) => m.version === Number(version));
    expect(migration, `migration ${version} is still shipped`).toBeDefined();
    expect(checksumOf(migration!, { schema: 'chatkeep', settings: settingsToJson(DEFAULT_SCHEMA_SETTINGS) })).toBe(checksum);
  });

  it('are numbered 1, 2, 3… with no gap, each released one still in its place', () => {
    expect(CHATKEEP_MIGRATIONS.map((m) => m.version)).toEqual(CHATKEEP_MIGRATIONS.map((_, i) => i + 1));
    expect(CHATKEEP_MIGRATIONS.length).toBeGreaterThanOrEqual(Object.keys(RELEASED).length);
  });
});
