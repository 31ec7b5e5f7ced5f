import { sql, type Kysely } from 'kysely';
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
      let notes: string[];
      try {
        const mine = await describe(db);
        const target = typeof options.target === 'string' ? await describeUrl(options.target) : await describe(options.target);
        if (mine.identity === target.identity) {
          throw new ChatkeepError(
            'CK_CONFIG',
            `The rehearsal database ${where} is the target database itself; a rehearsal changes the database it runs on, so give a copy (a restored snapshot, or createdb -T <target> <copy> while the target is idle)`,
            { field: 'rehearse' },
          );
        }
        notes = sizeNotes(mine, target);
      } catch (error) {
        await db.destroy().catch(() => undefined);
        throw error;
      }
      return { kind: 'postgres', disposable: false, description: `scratch database PostgreSQL at ${where} (left migrated)`, db, url, notes, discard: () => db.destroy() };
    },
  };
}

interface DatabaseFacts {
  readonly identity: string;
  /** Tables, indexes and TOAST outside the system schemas, in bytes, and as pg_size_pretty prints it. */
  readonly bytes: number;
  readonly size: string;
}

async function describe(db: Kysely<any>): Promise<DatabaseFacts> {
  const { rows } = await sql<{ bytes: string; size: string }>`
    select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint::text as bytes, pg_size_pretty(coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint) as size
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\_toast%'`.execute(db);
  return { identity: await databaseIdentity(db), bytes: Number(rows[0]?.bytes ?? 0), size: rows[0]?.size ?? '0 bytes' };
}

async function describeUrl(url: string): Promise<DatabaseFacts> {
  const db = await openPostgres(url, { applicationName: 'chatkeep-rehearsal-check' });
  try {
    return await describe(db);
  } finally {
    await db.destroy();
  }
}

/**
 * A scratch database with a fraction of the target's data (an empty
 * database migrated to the same version, a trimmed snapshot) rehearses in no
 * time and passes every budget; one with far more is as misleading the other
 * way. Index builds, rewrites and backfills scale with the data, so a size
 * off by more than a factor of two is said next to the numbers.
 */
function sizeNotes(copy: DatabaseFacts, target: DatabaseFacts): string[] {
  const [small, large] = copy.bytes < target.bytes ? [copy.bytes, target.bytes] : [target.bytes, copy.bytes];
  // Below a few MB on both sides every step takes milliseconds either way.
  if (large < 4 * 1024 * 1024 || small * 2 >= large) return [];
  return [
    `The scratch database holds ${copy.size} of tables and indexes, the target holds ${target.size}: durations and lock times grow with the data, so they are not the target's; restore a recent snapshot of the target.`,
  ];
}
