import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, chatkeep } from '../cli/cli-process.js';

/** `chatkeep mcp` refuses to start without an acting user or credentials (exit 2), before touching the database. */
describe('chatkeep mcp: usage', () => {
  let dataDir: string;
  beforeAll(async () => {
    assertBuilt();
    dataDir = await mkdtemp(join(tmpdir(), 'ck-mcp-cli-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('stdio without --user, http with --user, http without tokens, a bad transport, port, allowed host or rate limit: exit 2', async () => {
    const cases: readonly (readonly [string[], RegExp])[] = [
      [['mcp'], /--user <id> is required/],
      [['mcp', '--transport', 'http', '--user', 'alice'], /--user is for stdio/],
      [['mcp', '--transport', 'http'], /CHATKEEP_MCP_TOKENS/],
      [['mcp', '--transport', 'sse', '--user', 'a'], /Allowed choices are stdio, http/],
      [['mcp', '--transport', 'http', '--port', '70000'], /port number/],
      [
        ['mcp', '--user', 'alice', '--host-schema', 'Todo; drop'],
        /--host-schema: expected a lower-case identifier/,
      ],
      [['mcp', '--transport', 'http', '--allowed-host', 'http://mcp.internal'], /--allowed-host.*without scheme or port/],
      [['mcp', '--transport', 'http', '--allowed-host', 'mcp.internal:8080'], /--allowed-host.*without scheme or port/],
      [['mcp', '--transport', 'http', '--allowed-host', ''], /--allowed-host.*without scheme or port/],
      [['mcp', '--transport', 'http', '--rate-limit', 'many'], /--rate-limit: expected a whole number from 0 to 1000000/],
      [['mcp', '--transport', 'http', '--rate-limit', '-1'], /--rate-limit/],
    ];
    for (const [args, message] of cases) {
      const run = await chatkeep(['--data-dir', dataDir, ...args], { CHATKEEP_MCP_TOKENS: '' });
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stdout, args.join(' ')).toBe('');
    }
  });

  it("mcp role takes --host-schema and --role before or after `role`, refuses mcp's serving options naming them, and checks names before a data folder is created (exit 2)", async () => {
    const data = join(dataDir, 'role-never-created');
    const cases: readonly (readonly [string[], RegExp])[] = [
      [['mcp', 'role', '--port', '3001'], /^error: --port is an option of `chatkeep mcp` \(serving\); `chatkeep mcp role` does not take it$/m],
      [['mcp', '--user', 'alice', 'role'], /^error: --user is an option of `chatkeep mcp` \(serving\)/m],
      [['mcp', 'role', '--transport', 'http'], /^error: --transport is an option of `chatkeep mcp` \(serving\)/m],
      [['mcp', 'role', '--host-schema', 'Todo; drop'], /^error \[CK_CONFIG]: --host-schema: expected a lower-case identifier/m],
      [['mcp', '--host-schema', 'Todo; drop', 'role'], /^error \[CK_CONFIG]: --host-schema: expected a lower-case identifier/m],
      [['mcp', 'role', '--role', 'Tools; drop'], /^error \[CK_CONFIG]: --role: expected a lower-case identifier/m],
      [['mcp', 'role', '--bogus'], /unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const run = await chatkeep(['--data-dir', data, ...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stdout, args.join(' ')).toBe('');
    }
    await expect(stat(data), 'the data folder was created for a usage error').rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a bad CHATKEEP_MCP_TOKENS is refused naming the variable and the entry, never the token (exit 2)', async () => {
    const good = 'a-good-token-0123456789';
    const cases: readonly (readonly [string, RegExp])[] = [
      [
        'alice=too-short',
        /^error \[CK_CONFIG\]: CHATKEEP_MCP_TOKENS: entry 1 \(user "alice"\): the token must have at least 16 characters/m,
      ],
      [
        `alice=${good}, bob=${good}`,
        /^error \[CK_CONFIG\]: CHATKEEP_MCP_TOKENS: entry 2 \(user "bob"\): the same token as an earlier entry/m,
      ],
      ['alice', /^error \[CK_CONFIG\]: CHATKEEP_MCP_TOKENS: entry 1 is not user=token/m],
      [',,', /^error \[CK_CONFIG\]: CHATKEEP_MCP_TOKENS: at least one token is needed/m],
    ];
    for (const [tokens, message] of cases) {
      const run = await chatkeep(
        ['--data-dir', dataDir, 'mcp', '--transport', 'http', '--port', '0'],
        {
          CHATKEEP_MCP_TOKENS: tokens,
        },
      );
      expect(run.code, tokens).toBe(2);
      expect(run.stderr, tokens).toMatch(message);
      expect(run.stderr, tokens).not.toMatch(/tokens\[\d\]|too-short|0123456789/);
      expect(run.stdout, tokens).toBe('');
    }
  });

  it('a host schema without task tables is a configuration error naming the problem', async () => {
    const run = await chatkeep(['--data-dir', dataDir, 'mcp', '--user', 'alice']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/CK_CONFIG/);
    expect(run.stdout).toBe('');
  });
});
