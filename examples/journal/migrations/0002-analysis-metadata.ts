import {
  backfill,
  concurrentIndex,
  nonTransactional,
  verify,
  type Migration,
} from '../../../src/migrate/index.js';

/** The optional fields seed 004 (SCHEMA-001) adds to the analysis, with their types. */
export const ANALYSIS_V2_COLUMNS = [
  ['model_type', 'text'],
  ['model_version', 'text'],
  ['request_tokens', 'integer'],
  ['response_tokens', 'integer'],
  ['caching_used', 'boolean'],
  ['batch_processed', 'boolean'],
  ['region_processed', 'text'],
] as const;

type V2Column = (typeof ANALYSIS_V2_COLUMNS)[number][0];

/**
 * The new fields computed from the old shape of row `r` (`''` for the row
 * being updated, `new.` in the trigger). One definition, used verbatim by the
 * trigger, the backfill and both verifications, so they cannot disagree.
 * A value of the wrong JSON type (`"requestTokens": "n/a"`) becomes NULL:
 * the fields are optional, and the old document keeps it.
 */
function v2FromOld(r: string): Record<V2Column, string> {
  const m = `${r}model`;
  const p = `${r}processing_metadata`;
  const int = (key: string) =>
    `case when jsonb_typeof(${p}->'${key}') = 'number' and (${p}->>'${key}') ~ '^[0-9]{1,9}$' then (${p}->>'${key}')::integer end`;
  const bool = (key: string) =>
    `case when jsonb_typeof(${p}->'${key}') = 'boolean' then (${p}->>'${key}')::boolean end`;
  return {
    model_type: `nullif(case when strpos(${m}, '@') > 0 then left(${m}, strpos(${m}, '@') - 1) else ${m} end, '')`,
    model_version: `case when strpos(${m}, '@') > 0 then nullif(substr(${m}, strpos(${m}, '@') + 1), '') end`,
    request_tokens: int('requestTokens'),
    response_tokens: int('responseTokens'),
    caching_used: bool('cached'),
    batch_processed: bool('batch'),
    region_processed: `case when jsonb_typeof(${p}->'region') = 'string' then ${p}->>'region' end`,
  };
}

/** The old shape rebuilt from the new fields of row `r`: for writes by new code that set only the new fields. */
function oldFromV2(r: string): { model: string; processing_metadata: string } {
  return {
    model: `case when ${r}model_type is null then null else ${r}model_type || coalesce('@' || ${r}model_version, '') end`,
    processing_metadata: `(coalesce(${r}processing_metadata, '{}'::jsonb) - 'requestTokens' - 'responseTokens' - 'cached' - 'batch' - 'region')
      || jsonb_strip_nulls(jsonb_build_object('requestTokens', ${r}request_tokens, 'responseTokens', ${r}response_tokens,
           'cached', ${r}caching_used, 'batch', ${r}batch_processed, 'region', ${r}region_processed))`,
  };
}

const columns = (r: string) => ANALYSIS_V2_COLUMNS.map(([c]) => `${r}${c}`).join(', ');
const derived = (r: string) => Object.values(v2FromOld(r)).join(',\n    ');
/** True when row `r`'s new fields are exactly what its old shape says. */
const agrees = (r: string) => `row(${columns(r)}) is not distinct from row(\n    ${derived(r)})`;

/**
 * Seed 004 SCHEMA-001 / MIGRATION-001/002: the analysis gains seven optional
 * fields, filled from the existing rows, while the app keeps reading and
 * writing the old shape; readers then move to the new fields per user behind
 * the `journal.analysis-v2` flag (`store.flags`, percentage rollout).
 *
 * 1. one short transaction adds the nullable columns (catalogue-only, no
 *    rewrite) and a BEFORE INSERT OR UPDATE trigger that keeps the two shapes
 *    in step: a write by old code (old shape only) gets the new fields
 *    derived; a write by new code (new fields) gets the old shape rebuilt —
 *    so old readers never miss a value new code wrote, and `down` loses
 *    nothing;
 * 2. a backfill fills the existing rows in key batches;
 * 3. `CREATE INDEX CONCURRENTLY` for the new per-user/model query
 *    (seed 004's `by_user_model_date`);
 * 4. a verification that every row's new fields agree with its old shape —
 *    only then may the flag be turned up.
 *
 * `down` verifies the same agreement (so every value new code wrote is in the
 * old shape), then drops the index, trigger and columns.
 */
export const analysisMetadataMigration: Migration = {
  version: 2,
  name: 'analysis-metadata',
  up: ({ schema: s }) => [
    `alter table ${s}.ai_analysis ${ANALYSIS_V2_COLUMNS.map(([c, t]) => `add column ${c} ${t}`).join(', ')}`,
    `create function ${s}.ai_analysis_v2_sync() returns trigger
language plpgsql as $fn$
begin
  if (tg_op = 'INSERT' and num_nonnulls(${columns('new.')}) > 0)
     or (tg_op = 'UPDATE' and row(${columns('new.')}) is distinct from row(${columns('old.')})) then
    -- New code wrote the new fields: the old shape follows, unless it already agrees
    -- (the backfill sets exactly what the old shape says, and must not rewrite it).
    if not (${agrees('new.')}) then
      new.model := ${oldFromV2('new.').model};
      new.processing_metadata := ${oldFromV2('new.').processing_metadata};
    end if;
  else
    -- Old code wrote the old shape (or nothing relevant): the new fields follow it.
    ${Object.entries(v2FromOld('new.'))
      .map(([c, e]) => `new.${c} := ${e};`)
      .join('\n    ')}
  end if;
  return new;
end
$fn$`,
    `create trigger ai_analysis_v2_sync before insert or update on ${s}.ai_analysis
  for each row execute function ${s}.ai_analysis_v2_sync()`,
    backfill({
      table: `${s}.ai_analysis`,
      key: ['id'],
      set: Object.entries(v2FromOld(''))
        .map(([c, e]) => `${c} = ${e}`)
        .join(',\n  '),
      where: `not (${agrees('')})`,
      batchSize: 500,
    }),
    concurrentIndex({
      name: 'ai_analysis_user_model_idx',
      table: `${s}.ai_analysis`,
      columns: 'user_id, model_type, created_at',
    }),
    verify(
      'every analysis row has new fields that agree with its old shape',
      `select not exists (select 1 from ${s}.ai_analysis where not (${agrees('')}))`,
    ),
  ],
  down: ({ schema: s }) => [
    // Nothing new code wrote may be lost: the trigger kept the old shape complete; prove it before dropping.
    verify(
      'the old shape holds every value of the new fields',
      `select not exists (select 1 from ${s}.ai_analysis where not (${agrees('')}))`,
    ),
    nonTransactional(`drop index concurrently if exists ${s}.ai_analysis_user_model_idx`),
    `drop trigger ai_analysis_v2_sync on ${s}.ai_analysis`,
    `drop function ${s}.ai_analysis_v2_sync()`,
    `alter table ${s}.ai_analysis ${ANALYSIS_V2_COLUMNS.map(([c]) => `drop column ${c}`).join(', ')}`,
  ],
};
