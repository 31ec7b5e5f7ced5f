import type { Kysely } from 'kysely';
import { redactUrl } from '../../db/index.js';
import { ChatkeepError } from '../../errors/index.js';
import { databaseIdentity, openPostgres } from './open-postgres.js';
import type { RehearsalCopy } from './rehearsal-copy.js';

/**
 * A PostgreSQL database you provide as the copy — typically the target
 * restored from last night's snapshot, or `createdb -T app app_rehearsal`
 * taken while the target was idle. The rehearsal migrates it and leaves it
 * migrated (restore it again before the next rehearsal). Refused with
 * CK_CONFIG when it is the target itself (same server instance and
 * database), however the URL spells it.
 *
 * @example
 * rehearse({ copy: postgresScratch('postgres://app@snapshots/app_copy', { target: db }), migrator: { migrations }, plan: { direction: 'up' } })
 */
export function postgresScratch(url: string, options: { readonly target: string | Kysely<any> }): RehearsalCopy {
  const where = redactUrl(url);
  return {
    description: `scratch database PostgreSQL at ${where}`,
    async open({ applicationName, log }) {
      const db = await openPostgres(url, { applicationName, ...(log !== undefined ? { log } : {}) });
      try {
        const mine = await databaseIdentity(db);
        const target = typeof options.target === 'string' ? await identityOfUrl(options.target) : await databaseIdentity(options.target);
        if (mine === target) {
          throw new ChatkeepError(
            'CK_CONFIG',
            `The rehearsal database ${where} is the target database itself; a rehearsal changes the database it runs on, so give a copy (a restored snapshot, or createdb -T <target> <copy> while the target is idle)`,
            { field: 'rehearse' },
          );
        }
      } catch (error) {
        await db.destroy().catch(() => undefined);
        throw error;
      }
      return { kind: 'postgres', disposable: false, description: `scratch database PostgreSQL at ${where} (left migrated)`, db, url, discard: () => db.destroy() };
    },
  };
}

async function identityOfUrl(url: string): Promise<string> {
  const db = await openPostgres(url, { applicationName: 'chatkeep-rehearsal-check' });
  try {
    return await databaseIdentity(db);
  } finally {
    await db.destroy();
  }
}
