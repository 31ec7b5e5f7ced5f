import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHATKEEP_MIGRATIONS } from '../../src/schema/index.js';
import { BACKENDS, createPgDatabase } from '../support/backends.js';
import { assertBuilt, chatkeep } from './cli-process.js';

beforeAll(assertBuilt);

describe('chatkeep demo', () => {
  it('--memory runs offline, prints the conversation and the onboarding states, and exits 0', async () => {
    const result = await chatkeep(['demo', '--memory']);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    const conversation = lines.filter((line) => /^ +\d+ {2}(user|assistant) /.test(line));
    expect(conversation.map((line) => line.trim().split(/\s+/).slice(0, 2).join(' '))).toEqual([
      '1 user',
      '2 assistant',
      '3 user',
      '4 assistant',
      '5 user',
      '6 assistant',
    ]);
    // The demo agent saw the earlier messages of each turn.
    expect(conversation[5]).toContain('I can see 4 earlier messages');
    expect(result.stdout).toMatch(/started +phase welcome +progress +0% +status active/);
    expect(result.stdout).toMatch(/completed +phase first-chat +progress 100% +status completed/);
    expect(result.stdout).toContain('Data lives in: PGlite in memory (schema "chatkeep")');
    // Migrating is on the way to the demo: a migration's millisecond phases stay quiet.
    expect(result.stdout).toMatch(/^applied {2}0007 row-level-security \(14 phases run, \d+ ms\)$/m);
    expect(result.stdout).not.toMatch(/^ +phase \d/m);
  });

  // Both name a database on the command line; DATABASE_URL in the environment does not count (test/cli/database-precedence.test.ts).
  it('refuses --memory together with --database-url (exit 2)', async () => {
    const result = await chatkeep(['demo', '--memory', '--database-url', 'postgres://localhost/x']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: --memory cannot be combined with --database-url: both name a database\n');
  });
});

const postgres = BACKENDS.find((b) => b.name === 'postgres')!;

describe.skipIf(postgres.skip)('postgres: chatkeep demo', () => {
  let scratch: Awaited<ReturnType<typeof createPgDatabase>> | undefined;
  beforeAll(async () => {
    scratch = await createPgDatabase();
  });
  afterAll(() => scratch?.drop());

  it('--json stores and prints the conversation in the given schema', async () => {
    const result = await chatkeep(['demo', '--json', '--schema', 'demo_schema'], {
      DATABASE_URL: scratch!.url,
    });
    expect(result.code, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout) as {
      database: string;
      schema: string;
      messages: { seq: number; role: string }[];
      onboarding: { action: string; session: { status: string; progress: number } }[];
    };
    expect(output.database).toContain('PostgreSQL at');
    expect(output.schema).toBe('demo_schema');
    expect(output.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(output.onboarding.at(-1)).toMatchObject({
      action: 'completed',
      session: { status: 'completed', progress: 100 },
    });

    const status = await chatkeep([
      'migrate',
      'status',
      '--schema',
      'demo_schema',
      '--database-url',
      scratch!.url,
    ]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`Version:  ${CHATKEEP_MIGRATIONS.length} of ${CHATKEEP_MIGRATIONS.length}`);
    const up = await chatkeep([
      'migrate',
      'up',
      '--schema',
      'demo_schema',
      '--database-url',
      scratch!.url,
    ]);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`Nothing to do: the schema is at version ${CHATKEEP_MIGRATIONS.length}.`);
  });
});
