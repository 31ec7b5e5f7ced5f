import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The README tells the truth: its library quick start runs as printed,
 * against the BUILT package (imported by name, as a user would), and the
 * public entry points exist.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));

describe('README', () => {
  it('the built package exports the library and the chatkeep/migrate subpath', async () => {
    expect(existsSync(`${root}dist/index.js`), 'run `npm run build` first (npm test does)').toBe(true);
    const lib = await import('chatkeep');
    const migrate = await import('chatkeep/migrate');
    expect(typeof lib.openStore).toBe('function');
    expect(typeof lib.ChatkeepError).toBe('function');
    expect(typeof migrate.Migrator).toBe('function');
    expect(typeof migrate.fingerprint).toBe('function');
  });

  it('the library quick start runs as printed', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const section = readme.slice(readme.indexOf('## Library quick start'));
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toBeDefined();
    const file = `${root}.readme-quickstart-${process.pid}.mjs`;
    writeFileSync(file, code ?? '');
    try {
      // With a DATABASE_URL exported, as in many developers' shells: the quick
      // start's dataDir: 'memory://' must still be used (an unreachable URL
      // would fail the run with CK_DB_UNAVAILABLE if it were not).
      const env = { ...process.env, DATABASE_URL: 'postgres://quickstart@127.0.0.1:1/must-not-be-used' };
      const out = execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 60_000, env });
      expect(out).toContain('Pack light for: And what should I pack?');
      expect(out).toContain('1 user: Where should I go in May?');
      expect(out).toContain('4 assistant: (2 earlier messages)');
      expect(out.trim().split('\n').at(-1)).toBe('CK_NOT_FOUND');
    } finally {
      rmSync(file, { force: true });
    }
  });

  // It once used a `db` it never defined: pasted as printed, it failed with "db is not defined".
  it('the migration engine example runs as printed', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const section = readme.slice(readme.indexOf('## The migration engine on its own'));
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code).toBeDefined();
    const file = `${root}.readme-migrator-${process.pid}.mjs`;
    writeFileSync(file, code ?? '');
    try {
      const out = execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(out.trim()).toBe('1 tasks: applied');
    } finally {
      rmSync(file, { force: true });
    }
  });
});
