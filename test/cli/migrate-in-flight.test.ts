import { afterEach, describe, expect, it } from 'vitest';
import { verify, type Migration } from '../../src/migrate/index.js';
import { BACKENDS, PG_DUMP_SKIP } from '../support/backends.js';
import { freshTarget, inProcessChatkeep } from './in-process.js';

/** 0001 makes app.base and app.blockers (one row); 0002's up stops at a gate while blockers has rows. */
const base: Migration = {
  version: 1,
  name: 'base',
  up: ({ schema: s }) => [
    `create table ${s}.base (id int primary key)`,
    `create table ${s}.blockers (id int)`,
    `insert into ${s}.blockers values (1)`,
  ],
  down: ({ schema: s }) => [`drop table ${s}.blockers`, `drop table ${s}.base`],
};

const child: Migration = {
  version: 2,
  name: 'child',
  up: ({ schema: s }) => [
    `create table ${s}.child (id int primary key, base_id int references ${s}.base (id))`,
    verify('no blockers left', `select not exists (select 1 from ${s}.blockers)`),
    `insert into ${s}.child values (1, null)`,
  ],
  down: ({ schema: s }) => [`drop table if exists ${s}.child`],
};

/** The real CLI (`runCli`) in this process, over base and child. */
const chatkeep = inProcessChatkeep([base, child]);

/**
 * `migrate down` past a migration whose `up` stopped part-way: the plan
 * says it will be undone, `down` undoes it before reverting what lies
 * beneath and says so, and nothing is left in flight.
 */
for (const backend of BACKENDS) {
  describe.skipIf(backend.skip)(`${backend.name}: migrate down past an up in flight`, () => {
    let cleanup: () => Promise<void> = async () => undefined;
    afterEach(() => cleanup());

    it('plan --down names it, down undoes it first and says so, status shows nothing in flight after', async () => {
      const fresh = await freshTarget(backend.name, 'chatkeep-in-flight-');
      const { where } = fresh;
      cleanup = fresh.cleanup;
      const run = (...args: string[]) => chatkeep([...where, '--schema', 'app', ...args]);

      const up = await run('migrate', 'up');
      expect(up.code).toBe(1);
      expect(up.stderr).toContain('no blockers left');
      const inFlight = await run('migrate', 'status');
      expect(inFlight.stdout).toMatch(/^In flight \(interrupted; .*a down past an up in flight undoes it\):$/m);
      expect(inFlight.stdout).toMatch(/^ {2}0002 child \(up\): 1 phase done, last progress \S+$/m);

      const plan = await run('migrate', 'plan', '--down', '--to', '0');
      expect(plan.code, plan.stderr).toBe(0);
      const headers = plan.stdout.split('\n').filter((l) => /^-- 000\d /.test(l));
      expect(headers).toEqual([
        '-- 0002 child (down of an up in flight, never recorded: undoes its half-done work, in one transaction)',
        '-- 0001 base (down, in one transaction)',
      ]);

      // Rehearsed on a copy first: the copy has the journal too, so the rehearsal undoes it the same way.
      // (On PostgreSQL the copy is made with pg_dump | psql, when the client tools are there.)
      if (backend.name === 'pglite' || PG_DUMP_SKIP === false) {
        const rehearsal = await run('migrate', 'plan', '--down', '--to', '0', '--rehearse', ...(backend.name === 'postgres' ? ['--rehearse-copy'] : []));
        expect(rehearsal.code, rehearsal.stderr).toBe(0);
        expect(rehearsal.stdout).toMatch(/^-- 0002 child \(down of an up in flight, reverted, \d+ ms\)$/m);
      }
      expect(JSON.parse((await run('migrate', 'status', '--json')).stdout)).toMatchObject({ current: 1, inFlight: [{ version: 2, direction: 'up' }] });

      const down = await run('migrate', 'down', '--to', '0', '--yes');
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout).toContain(
        'Undid 0002 child: its up had stopped part-way (in flight, never recorded); its down() removed what it had done, and the next up starts it from the beginning.',
      );
      expect(down.stdout).toContain('Done: reverted 2 migrations');
      const after = await run('migrate', 'status', '--json');
      expect(after.code, after.stderr).toBe(0);
      expect(JSON.parse(after.stdout)).toMatchObject({ current: 0, inFlight: [] });
    });
  });
}
