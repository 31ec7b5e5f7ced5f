import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/index.js';
import { BACKENDS, processTarget, type BackendName } from '../support/backends.js';
import { childScript } from '../support/child-scripts.js';

/**
 * A process killed (SIGKILL: no cleanup, no rollback from our side) while it
 * writes turns leaves whole turns or nothing: never half a turn, never a seq
 * gap, never a conversation counter out of step with its messages.
 */
const writer = fileURLToPath(new URL('./fixtures/turn-writer.ts', import.meta.url));

function startWriter(target: string, conversationId: string, mode: 'append' | 'hang') {
  const child = spawn(process.execPath, [childScript(writer), target, conversationId, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.on('exit', (code) => reject(new Error(`writer exited early (${code}): ${stderr}`)));
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { child, ready, exited };
}

async function checkInvariants(store: Store, conversationId: string) {
  const page = await store.messages.list('crash-user', conversationId, { limit: 1000 });
  const all = [...page.messages];
  let cursor = page.olderCursor;
  let hasOlder = page.hasOlder;
  while (hasOlder && cursor) {
    const older = await store.messages.list('crash-user', conversationId, { limit: 1000, before: cursor });
    all.unshift(...older.messages);
    cursor = older.olderCursor;
    hasOlder = older.hasOlder;
  }
  const conversation = await store.conversations.get('crash-user', conversationId);
  expect(all.length % 2).toBe(0);
  expect(all.map((m) => m.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  for (let i = 0; i < all.length; i += 2) {
    expect(all[i]?.role).toBe('user');
    expect(all[i + 1]?.role).toBe('assistant');
    expect(all[i + 1]?.turnId).toBe(all[i]?.turnId);
    expect(all[i + 1]?.content.split(' ')[1]).toBe(all[i]?.content.split(' ')[1]);
  }
  expect(conversation.messageCount).toBe(all.length);
  return all.length;
}

for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: crash safety`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const c of cleanups) await c();
    });

    const target = (name: BackendName) => processTarget(name, cleanups);

    const open = (t: string) => openStore(t.startsWith('postgres') ? { url: t } : { dataDir: t });

    // Five rounds of a writer process and a reopen, ten opens of the database in all (on PGlite each one
    // loads the engine): past 60 s on a busy 2-core machine, as the other kill loops (phased, non-transactional-kill).
    it('kill -9 while appending turns, five times over: every stored turn is whole', { timeout: 120_000 }, async () => {
      const t = await target(backend.name);
      let store = await open(t);
      const { id } = await store.conversations.create('crash-user');
      await store.close();
      let previous = 0;
      for (let round = 0; round < 5; round++) {
        const w = startWriter(t, id, 'append');
        await w.ready;
        await sleep(50 + Math.floor(Math.random() * 250));
        w.child.kill('SIGKILL');
        await w.exited;
        store = await open(t);
        const count = await checkInvariants(store, id);
        expect(count).toBeGreaterThan(previous);
        previous = count;
        await store.close();
      }
    });

    it('kill -9 while the agent is thinking: nothing of the turn is stored', async () => {
      const t = await target(backend.name);
      let store = await open(t);
      const { id } = await store.conversations.create('crash-user');
      await store.turns.append('crash-user', id, { user: 'before', assistant: 'crash' });
      await store.close();
      const w = startWriter(t, id, 'hang');
      await w.ready;
      w.child.kill('SIGKILL');
      await w.exited;
      store = await open(t);
      expect(await checkInvariants(store, id)).toBe(2);
      if (store.kind === 'postgres') {
        // No transaction was left open by the dead client either.
        const db = (await import('../../src/db/index.js')).openDatabase;
        const admin = await db({ url: t });
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`.execute(admin.db);
        expect(rows[0]?.n).toBe(0);
        await admin.close();
      }
      await store.close();
    });
  });
}
