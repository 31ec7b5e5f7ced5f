import { sql, type Kysely } from 'kysely';

/** A setting a migration session takes, as `set_config` wants it. */
export type SessionSetting = readonly [name: string, value: string];

/**
 * Settings a bulk step (a backfill's batches, a concurrent index build) takes
 * on PostgreSQL so that writing gigabytes does not stall the application's
 * commits (bench/README.md, "Online migration"):
 *
 * - `backend_flush_after = 256kB` (with `flushAfter`, for steps that write
 *   through shared buffers: a backfill): a backfill dirties far more pages
 *   than shared_buffers holds, and its backend writes them out itself as it
 *   evicts them — by default into the kernel's page cache with no writeback
 *   hint, where gigabytes pile up until a checkpoint's fsync must write them
 *   all at once and every commit of the application waits behind that burst.
 *   With the hint the kernel writes them back as they come. An index build
 *   writes its pages around shared buffers, so the setting does not reach it.
 * - `wal_compression = lz4` (or `pglz`) when the server has it off and this
 *   role may set it (superuser, or `GRANT SET ON PARAMETER`): a backfill
 *   writes a full-page image of every page it touches after each checkpoint,
 *   and an index build logs every page of the new index whole; compressed,
 *   that WAL shrinks by a third (backfill) to 60 % (index on text columns,
 *   bench/probe/index-stall.ts), so fewer checkpoints fall inside the step.
 *   Only this session's WAL records change; recovery and replicas read any
 *   compression the server was built with.
 *
 * Nothing here changes what the step writes. PGlite: none (no checkpointer
 * pressure worth tuning inside WebAssembly, and its GUCs differ).
 */
export async function bulkWriteSettings(conn: Kysely<any>, options: { readonly flushAfter: boolean }): Promise<readonly SessionSetting[]> {
  if (await isPglite(conn)) return [];
  const { rows } = await sql<{ compression: string; values: string[] | null; superuser: boolean; version: number }>`
    select setting as compression, enumvals as values,
           (select rolsuper from pg_roles where rolname = current_user) as superuser,
           current_setting('server_version_num')::int as version
      from pg_settings where name = 'wal_compression'`.execute(conn);
  const settings: SessionSetting[] = options.flushAfter ? [['backend_flush_after', '256kB']] : [];
  const row = rows[0];
  // has_parameter_privilege exists from PostgreSQL 15 on; before, only a superuser may set it.
  const maySet =
    row !== undefined &&
    (row.superuser ||
      (row.version >= 150000 && (await sql<{ ok: boolean }>`select has_parameter_privilege('wal_compression', 'SET') as ok`.execute(conn)).rows[0]?.ok === true));
  if (row !== undefined && maySet && row.compression === 'off') {
    const method = row.values?.includes('lz4') ? 'lz4' : 'pglz';
    settings.push(['wal_compression', method]);
  }
  return settings;
}

/** Whether the connection is PGlite's single in-process session. */
export async function isPglite(conn: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ pglite: boolean }>`select version() like '%PGlite%' as pglite`.execute(conn);
  return rows[0]?.pglite === true;
}
