import { sql, type Kysely } from 'kysely';
import type { AnalysisV2 } from './analysis-readers.js';

/** What an analysis run produced, shared by both writers. */
export interface AnalysisRun {
  readonly userId: string;
  readonly entryId: string;
  readonly result: Readonly<Record<string, unknown>>;
}

/** The old code's write: the old shape only. Migration 2's trigger derives the new fields. Returns the id. */
export async function writeAnalysisV1(
  db: Kysely<any>,
  schema: string,
  run: AnalysisRun & {
    readonly model: string;
    readonly processingMetadata: Readonly<Record<string, unknown>>;
  },
): Promise<string> {
  const { rows } = await sql<{ id: string | number }>`
    insert into ${sql.id(schema, 'ai_analysis')} (entry_id, user_id, result, model, processing_metadata)
    values (${run.entryId}, ${run.userId}, ${JSON.stringify(run.result)}, ${run.model}, ${JSON.stringify(run.processingMetadata)})
    returning id`.execute(db);
  return String(rows[0]!.id);
}

/**
 * The new code's write: the new fields only (needs migration 2). Its trigger
 * rebuilds the old shape from them, so old readers — and a `down` — miss nothing.
 */
export async function writeAnalysisV2(
  db: Kysely<any>,
  schema: string,
  run: AnalysisRun & Omit<AnalysisV2, 'id' | 'entryId'>,
): Promise<string> {
  const { rows } = await sql<{ id: string | number }>`
    insert into ${sql.id(schema, 'ai_analysis')}
      (entry_id, user_id, result, model_type, model_version, request_tokens, response_tokens, caching_used, batch_processed, region_processed)
    values (${run.entryId}, ${run.userId}, ${JSON.stringify(run.result)}, ${run.modelType}, ${run.modelVersion}, ${run.requestTokens},
            ${run.responseTokens}, ${run.cachingUsed}, ${run.batchProcessed}, ${run.regionProcessed})
    returning id`.execute(db);
  return String(rows[0]!.id);
}
