import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/index.js';
import { assertBuilt, chatkeep } from './cli-process.js';

/**
 * A key's name is chosen by whoever holds a token for the user
 * (`POST /v1/me/api-keys {"name": …}`), so `keys list` prints text an
 * untrusted user wrote on an operator's terminal. A newline forged a whole
 * extra key line for scripts reading the list line by line, and an escape
 * sequence reached the terminal as is (clearing the screen, retitling the
 * window, rewriting what was printed).
 */
describe('chatkeep keys list: key names as a user chose them', () => {
  let dir = '';
  let dataDir = '';
  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'chatkeep-review-names-'));
    dataDir = join(dir, 'data');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints control characters escaped: one line per key, no escape sequence reaches the terminal', { timeout: 60_000 }, async () => {
    const forged = '01a2bf4e-0000-7000-8000-000000000000  ck_00000000…  admin  never used';
    const store = await openStore({ dataDir });
    try {
      await store.apiKeys.create('mallory', { name: `laptop\n${forged}` });
      await store.apiKeys.create('mallory', { name: 'tab\there \u001b[2J\u001b]0;pwned\u0007 \u009b31m' });
    } finally {
      await store.close();
    }
    const listed = await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', 'mallory']);
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3); // the database line and one line per key
    expect(lines.filter((line) => line.startsWith('01a2bf4e-'))).toEqual([]);
    expect(listed.stdout).toContain('laptop\\n01a2bf4e-');
    expect(listed.stdout).toContain('tab\\there \\u001b[2J\\u001b]0;pwned\\u0007 \\u009b31m');
    // eslint-disable-next-line no-control-regex
    expect(listed.stdout.replace(/\n/g, '')).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);

    // --json keeps the name exactly as stored: JSON escapes it itself.
    const json = await chatkeep(['--data-dir', dataDir, 'keys', 'list', '--user', 'mallory', '--json']);
    const names = (JSON.parse(json.stdout) as { name: string }[]).map((key) => key.name).sort();
    expect(names).toEqual([`laptop\n${forged}`, 'tab\there \u001b[2J\u001b]0;pwned\u0007 \u009b31m'].sort());
  });
});
