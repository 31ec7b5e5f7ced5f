import { sql, type Kysely } from 'kysely';
import type { FeatureFlags } from '../../src/index.js';

/** The flag that moves a user's readers to the new analysis fields (docs/flags.md). */
export const ANALYSIS_V2_FLAG = 'journal.analysis-v2';

/** An analysis as the app has always read it: the model string and the free-form processing document. */
export interface AnalysisV1 {
  readonly id: string;
  readonly entryId: string;
  readonly model: string | null;
  readonly processingMetadata: Readonly<Record<string, unknown>> | null;
}

/** An analysis with seed 004's new fields (migration 2). */
export interface AnalysisV2 {
  readonly id: string;
  readonly entryId: string;
  readonly modelType: string | null;
  readonly modelVersion: string | null;
  readonly requestTokens: number | null;
  readonly responseTokens: number | null;
  readonly cachingUsed: boolean | null;
  readonly batchProcessed: boolean | null;
  readonly regionProcessed: string | null;
}

/** The old reader: works before, during and after migration 2 (and after its down). */
export async function readAnalysesV1(
  db: Kysely<any>,
  schema: string,
  userId: string,
): Promise<AnalysisV1[]> {
  const { rows } = await sql<{
    id: string | number;
    entry_id: string | number;
    model: string | null;
    processing_metadata: Record<string, unknown> | null;
  }>`
    select id, entry_id, model, processing_metadata from ${sql.id(schema, 'ai_analysis')} where user_id = ${userId} order by id`.execute(
    db,
  );
  return rows.map((r) => ({
    id: String(r.id),
    entryId: String(r.entry_id),
    model: r.model,
    processingMetadata: r.processing_metadata,
  }));
}

/** The new reader: needs migration 2 complete (its verification passed) — which is when the flag may be turned up. */
export async function readAnalysesV2(
  db: Kysely<any>,
  schema: string,
  userId: string,
): Promise<AnalysisV2[]> {
  const { rows } = await sql<{
    id: string | number;
    entry_id: string | number;
    model_type: string | null;
    model_version: string | null;
    request_tokens: number | null;
    response_tokens: number | null;
    caching_used: boolean | null;
    batch_processed: boolean | null;
    region_processed: string | null;
  }>`
    select id, entry_id, model_type, model_version, request_tokens, response_tokens, caching_used, batch_processed, region_processed
      from ${sql.id(schema, 'ai_analysis')} where user_id = ${userId} order by id`.execute(db);
  return rows.map((r) => ({
    id: String(r.id),
    entryId: String(r.entry_id),
    modelType: r.model_type,
    modelVersion: r.model_version,
    requestTokens: r.request_tokens,
    responseTokens: r.response_tokens,
    cachingUsed: r.caching_used,
    batchProcessed: r.batch_processed,
    regionProcessed: r.region_processed,
  }));
}

/**
 * The app's reader during the rollout (seed 004 MIGRATION-002): users in the
 * `journal.analysis-v2` flag read the new fields, everyone else the old shape.
 *
 * @example
 * const { shape, rows } = await readAnalyses(store.flags, db, 'journal', user);
 */
export async function readAnalyses(
  flags: Pick<FeatureFlags, 'isEnabled'>,
  db: Kysely<any>,
  schema: string,
  userId: string,
): Promise<
  | { readonly shape: 'v1'; readonly rows: AnalysisV1[] }
  | { readonly shape: 'v2'; readonly rows: AnalysisV2[] }
> {
  return (await flags.isEnabled(userId, ANALYSIS_V2_FLAG))
    ? { shape: 'v2', rows: await readAnalysesV2(db, schema, userId) }
    : { shape: 'v1', rows: await readAnalysesV1(db, schema, userId) };
}
