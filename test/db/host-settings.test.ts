import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/index.js';
import { openStore } from '../../src/index.js';
import { createPgDatabase, PG_ADMIN_URL, PG_AVAILABLE } from '../support/backends.js';
import { newUser } from '../support/store-fixture.js';

/**
 * The host app's settings chatkeep must not depend on.
 *
 * chatkeep shares `pg` with the host app, and `pg.types.setTypeParser`
 * changes what every client in the process reads. Host apps do change it
 * (int8 as BigInt, timestamps kept as text, booleans as 't'/'f'); chatkeep
 * reads with its own copy of the driver's defaults (src/db/type-parsers.ts),
 * so its API returns the same types whatever the host set, and the host's
 * own clients keep what the host set. Before that copy, booleans left as
 * text made the migration lock look never taken: openStore waited 60 s and
 * failed with CK_MIGRATION_LOCK.
 */
if (!PG_AVAILABLE) console.warn(`[chatkeep tests] SKIPPING host-settings cases: no PostgreSQL answers at ${PG_ADMIN_URL}`);

const HOST_PARSERS: Record<number, (text: string) => unknown> = {
  16: (text) => text, // bool stays 't' / 'f'
  20: (text) => BigInt(text), // int8
  21: (text) => text, // int2
  23: (text) => text, // int4
  114: (text) => text, // json
  1114: (text) => text, // timestamp
  1184: (text) => text, // timestamptz
  1700: (text) => Number.parseFloat(text), // numeric
  3802: (text) => text, // jsonb
};

describe.skipIf(!PG_AVAILABLE)('postgres: a host app that changed pg.types process-wide', () => {
  const saved = new Map<number, unknown>();
  let url: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    for (const [oid, parse] of Object.entries(HOST_PARSERS)) {
      saved.set(Number(oid), pg.types.getTypeParser(Number(oid), 'text'));
      pg.types.setTypeParser(Number(oid), parse);
    }
    ({ url, drop } = await createPgDatabase());
  });
  afterAll(async () => {
    for (const [oid, parse] of saved) pg.types.setTypeParser(oid, parse as (text: string) => unknown);
    await drop?.();
  });

  it('does not change what the store returns, and the host keeps its parsers', async () => {
    // Migrating takes the advisory lock, read back as a boolean.
    const store = await openStore({ url });
    try {
      const user = newUser('host-types');
      const first = await store.conversations.create(user, { title: 'one', metadata: { topic: 'types' } });
      await store.conversations.create(user, { title: 'two' });
      const turn = await store.turns.append(user, first.id, { user: 'hello', assistant: 'hi there' });

      expect(turn.userMessage.seq).toBe(1);
      expect(turn.assistantMessage.createdAt).toBeInstanceOf(Date);
      const page = await store.messages.list(user, first.id);
      expect(page.messages.map((m) => [m.seq, m.role, m.aborted])).toEqual([
        [1, 'user', false],
        [2, 'assistant', false],
      ]);
      expect(page.messages[0]!.metadata).toEqual({});
      expect(page.hasOlder).toBe(false);

      const conversation = await store.conversations.get(user, first.id);
      expect(conversation).toMatchObject({ messageCount: 2, metadata: { topic: 'types' }, summary: 'hello' });
      expect(conversation.createdAt).toBeInstanceOf(Date);
      expect(conversation.lastMessageAt).toBeInstanceOf(Date);

      // Listing pages by activity, a bigint the host reads as BigInt.
      const newest = await store.conversations.list(user, { limit: 1 });
      expect(newest.conversations.map((c) => c.title)).toEqual(['one']);
      const next = await store.conversations.list(user, { limit: 1, cursor: newest.nextCursor! });
      expect(next.conversations.map((c) => c.title)).toEqual(['two']);

      const streamed = await store.turns.begin(user, first.id, 'again');
      await store.turns.appendText(user, streamed.id, 'partial');
      const aborted = await store.turns.abort(user, streamed.id, { keepPartial: true });
      expect(aborted.kept?.assistantMessage.aborted).toBe(true);

      const { session } = await store.onboarding.start(user, { flow: 'setup', phase: 'welcome', context: { step: 1 } });
      expect(session.progress).toBe(0);
      expect(session.context).toEqual({ step: 1 });
      expect(session.createdAt).toBeInstanceOf(Date);
    } finally {
      await store.close();
    }

    // A second open finds the schema current (its version rows read back as numbers).
    const again = await openStore({ url });
    await again.close();

    // chatkeep's database handle reads with the driver's defaults…
    const database = await openDatabase({ url });
    try {
      const { rows } = await sql<{ yes: unknown; n: unknown; at: unknown; doc: unknown }>`select true as yes, 1::int8 as n, now() as at, '{"a":1}'::jsonb as doc`.execute(database.db);
      expect(rows[0]).toEqual({ yes: true, n: '1', at: expect.any(Date), doc: { a: 1 } });
    } finally {
      await database.close();
    }

    // …and did not reset the host's: a client of the host's still reads what the host set.
    const host = new pg.Client({ connectionString: url });
    await host.connect();
    try {
      const { rows } = await host.query('select true as yes, 1::int8 as n');
      expect(rows[0]).toEqual({ yes: 't', n: 1n });
    } finally {
      await host.end();
    }
    // Without the copy, openStore would wait out its 60-second lock timeout: fail sooner.
  }, 30_000);
});

/**
 * A database (or role) can set defaults for every session. Each of these
 * broke chatkeep before its sessions set their own (src/db/type-parsers.ts,
 * SESSION_SETTINGS_SQL):
 *
 * - `DateStyle` 'SQL, DMY': timestamps arrived as `24/11/2026 03:12:16.929
 *   IST`, which the driver's parser reads as Invalid Date, so every
 *   `createdAt` chatkeep returned was one;
 * - `standard_conforming_strings` off: the migration's content CHECK
 *   `content ~ '\S'` was created as `content ~ 'S'`, refusing "when?";
 * - `default_transaction_isolation` serializable: concurrent turns on one
 *   conversation failed with CK_CONFLICT instead of queueing on its row lock.
 *
 * `search_path` '' and another `TimeZone` are set too: chatkeep names every
 * object with its schema, and reads times with their offset.
 */
describe.skipIf(!PG_AVAILABLE)('postgres: a database whose sessions default to other settings', () => {
  let url: string;
  let name: string;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    ({ url, name, drop } = await createPgDatabase());
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`alter database ${name} set datestyle = 'SQL, DMY'`);
      await admin.query(`alter database ${name} set timezone = 'Asia/Kolkata'`);
      await admin.query(`alter database ${name} set intervalstyle = 'sql_standard'`);
      await admin.query(`alter database ${name} set standard_conforming_strings = off`);
      await admin.query(`alter database ${name} set default_transaction_isolation = 'serializable'`);
      await admin.query(`alter database ${name} set search_path = ''`);
    } finally {
      await admin.end();
    }
  });
  afterAll(() => drop?.());

  const recent = (date: Date | null | undefined) => {
    expect(date).toBeInstanceOf(Date);
    expect(Math.abs(date!.getTime() - Date.now())).toBeLessThan(5 * 60_000);
  };

  it('migrates, stores any text, queues concurrent turns and returns real times everywhere', async () => {
    // The setting is there: a plain client of the database sees it.
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    const { rows } = await plain.query(`select now()::text as now`);
    await plain.end();
    expect(rows[0].now).toMatch(/^\d\d\/\d\d\/\d{4} /);

    const store = await openStore({ url });
    try {
      const user = newUser('datestyle');
      const conversation = await store.conversations.create(user, { title: 'dates' });
      recent(conversation.createdAt);
      const turn = await store.turns.append(user, conversation.id, { user: 'when?', assistant: 'now' });
      recent(turn.userMessage.createdAt);
      const page = await store.messages.list(user, conversation.id);
      for (const message of page.messages) recent(message.createdAt);
      expect(page.messages.map((m) => m.createdAt.getTime())).toEqual([turn.userMessage.createdAt.getTime(), turn.assistantMessage.createdAt.getTime()]);
      const listed = await store.conversations.list(user);
      recent(listed.conversations[0]!.lastMessageAt);
      recent(listed.conversations[0]!.updatedAt);
      const { session } = await store.onboarding.start(user, { flow: 'setup', phase: 'welcome' });
      recent(session.createdAt);
      const { apiKey } = await store.apiKeys.create(user, { name: 'laptop' });
      recent(apiKey.createdAt);

      // Ten turns at once on one conversation: all stored, seqs gap-free after the first turn's 1 and 2.
      const turns = await Promise.all(Array.from({ length: 10 }, (_, i) => store.turns.append(user, conversation.id, { user: `q${i}`, assistant: `a${i}` })));
      expect(turns.map((t) => t.userMessage.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 3 + 2 * i));
      expect((await store.messages.list(user, conversation.id, { limit: 100 })).messages.map((m) => m.seq)).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
    } finally {
      await store.close();
    }
  });
});
