import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, chatkeep } from './cli-process.js';

/**
 * `--jwt-issuer` and `--jwt-audience` are checks on JWTs; without
 * `--jwt-secret` or `--jwks-url` no JWT is ever accepted, so they were
 * accepted and did nothing: an operator who forgot (or misspelt) the secret
 * variable got a server on which every JWT answers 401, with no word why.
 */
describe('chatkeep serve: --jwt-issuer / --jwt-audience without a JWT key', () => {
  let dir = '';
  beforeAll(() => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'chatkeep-review-jwt-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is a usage error naming the option (flag or variable) and --jwt-secret / --jwks-url; nothing is created', { timeout: 60_000 }, async () => {
    const data = join(dir, 'data');
    const [issuer, audienceFromEnv] = await Promise.all([
      chatkeep(['--data-dir', data, 'serve', '--port', '0', '--jwt-issuer', 'https://idp.example']),
      chatkeep(['--data-dir', data, 'serve', '--port', '0'], { CHATKEEP_JWT_AUDIENCE: 'my-app' }),
    ]);
    expect(issuer.code, issuer.stderr).toBe(2);
    expect(issuer.stderr).toMatch(/^error: --jwt-issuer \(or CHATKEEP_JWT_ISSUER\) checks JWTs, but none are accepted: give --jwt-secret \(or CHATKEEP_JWT_SECRET\) or --jwks-url \(or CHATKEEP_JWKS_URL\)/m);
    expect(audienceFromEnv.code, audienceFromEnv.stderr).toBe(2);
    expect(audienceFromEnv.stderr).toMatch(/^error: --jwt-audience \(or CHATKEEP_JWT_AUDIENCE\) checks JWTs/m);
    expect(issuer.stdout + audienceFromEnv.stdout).toBe('');
    expect(existsSync(data), 'the data folder was created for a usage error').toBe(false);
  });
});
