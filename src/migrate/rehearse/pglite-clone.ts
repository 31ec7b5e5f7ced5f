import type { PGliteInterface } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { SerializedPGliteDialect } from '../../db/serialized-pglite-dialect.js';
import { ChatkeepError } from '../../errors/index.js';
import type { RehearsalCopy } from './rehearsal-copy.js';

/**
 * A copy of an open PGlite database, in memory: `pglite.clone()` (PGlite
 * 0.5) dumps the data folder as a tar and starts a new instance from it. The
 * dump runs in PGlite's exclusive section, so no query of the source runs
 * meanwhile and the copy is consistent; the source is only read. The copy
 * lives in memory and is closed afterwards, so the rehearsal needs about
 * twice the folder's size in RAM.
 *
 * The source must be the instance that already has the folder open: PGlite
 * allows one process per folder, and a second instance on the same folder,
 * even in the same process, would corrupt it.
 *
 * @example
 * const pglite = await PGlite.create('./data');
 * const report = await rehearse({ copy: pgliteClone(pglite, 'PGlite at ./data'), migrator: { migrations }, plan: { direction: 'up' } });
 */
export function pgliteClone(pglite: Pick<PGliteInterface, 'clone'>, description = 'PGlite'): RehearsalCopy {
  return {
    description: `PGlite clone (in memory) of ${description}`,
    async open({ log }) {
      let clone: PGliteInterface;
      try {
        clone = await pglite.clone();
      } catch (cause) {
        throw new ChatkeepError(
          'CK_CONFIG',
          `Cannot clone ${description} for the rehearsal: ${cause instanceof Error ? cause.message : String(cause)}`,
          { field: 'rehearse' },
          { cause },
        );
      }
      const db = new Kysely<any>({
        dialect: new SerializedPGliteDialect({ pglite: clone as never }),
        ...(log !== undefined ? { log } : {}),
      });
      return {
        kind: 'pglite',
        disposable: true,
        description: `PGlite clone (in memory) of ${description}`,
        db,
        discard: async () => {
          await db.destroy();
          if (!clone.closed) await clone.close();
        },
      };
    },
  };
}
