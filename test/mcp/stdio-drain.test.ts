import { PassThrough } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/index.js';
import { TaskStore, serveStdio } from '../../src/mcp/index.js';
import { BACKENDS } from '../support/backends.js';
import {
  HOST_SCHEMA,
  createTodoLocation,
  withDatabase,
  type TodoLocation,
} from './fixtures/todo-location.js';

import { INITIALIZE as initialize, INITIALIZED as initialized } from './fixtures/handshake.js';
const call = (id: number, name: string, args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

/**
 * Ending a stdio session never drops an answer: the requests the client
 * wrote before it closed stdin (or before a SIGTERM) are answered first. The
 * call is held on a row lock while the session ends, so it is certainly
 * still running then; newline-delimited JSON-RPC written by hand, as a
 * `printf … | chatkeep mcp` would.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(
    `${backend.name}: stdio answers calls in flight when it ends`,
    () => {
      let location: TodoLocation;
      beforeAll(async () => {
        location = await createTodoLocation(backend.name);
      });
      afterAll(() => location?.drop());

      async function endMidCall(
        database: Database,
        end: (stdin: PassThrough, stop: AbortController) => void,
      ): Promise<{ answers: { id: number; result?: { isError?: boolean } }[]; title: string }> {
        const tasks = new TaskStore(database.db, { hostSchema: HOST_SCHEMA, role: location.role });
        const { id: taskId } = await tasks.add('alice', { title: 'held' });
        const stdin = new PassThrough();
        const stdout = new PassThrough();
        let out = '';
        stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        const stop = new AbortController();
        const serving = serveStdio({ tasks, userId: 'alice', stdin, stdout, signal: stop.signal });

        let release!: () => void;
        const locked = new Promise<void>((resolve) => {
          const held = new Promise<void>((r) => (release = r));
          void database.db.transaction().execute(async (trx) => {
            await sql`select id from todo.tasks where id = ${taskId} for update`.execute(trx);
            resolve();
            await held;
          });
        });
        await locked;
        for (const message of [
          initialize,
          initialized,
          call(1, 'update_task', { task_id: taskId, title: 'written and answered' }),
        ])
          stdin.write(`${JSON.stringify(message)}\n`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        end(stdin, stop);
        setTimeout(() => release(), 300);
        await serving;
        const answers = out
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => JSON.parse(line) as { id: number; result?: { isError?: boolean } });
        const title = (await tasks.list('alice')).find((t) => t.id === taskId)?.title ?? '';
        return { answers, title };
      }

      it('stdin closed right after a call: the call is answered before the session ends', async () => {
        await withDatabase(location, async (database) => {
          const { answers, title } = await endMidCall(database, (stdin) => stdin.end());
          expect(title).toBe('written and answered');
          expect(answers.map((a) => a.id)).toEqual([0, 1]);
          expect(answers[1]?.result?.isError).toBeUndefined();
        });
      });

      it('stop signal (SIGTERM) mid-call: the call is answered before the session ends', async () => {
        await withDatabase(location, async (database) => {
          const { answers, title } = await endMidCall(database, (_stdin, stop) => stop.abort());
          expect(title).toBe('written and answered');
          expect(answers.map((a) => a.id)).toEqual([0, 1]);
        });
      });

      it('a call the client cancelled is not waited for (the SDK sends it no answer)', async () => {
        await withDatabase(location, async (database) => {
          const started = Date.now();
          const { answers } = await endMidCall(database, (stdin) => {
            stdin.write(
              `${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } })}\n`,
            );
            stdin.end();
          });
          expect(answers.map((a) => a.id)).toEqual([0]);
          // The default drain limit is 30 s; without the cancellation the session would wait it out.
          expect(Date.now() - started).toBeLessThan(10_000);
        });
      });
    },
  );
}
