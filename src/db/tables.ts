import type { ColumnType, Generated } from 'kysely';

/**
 * Typed rows of chatkeep's tables, as the drivers return them. `bigint`
 * columns arrive as strings from `pg` and as numbers from PGlite, hence
 * `number | string`; the store normalises them.
 */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type BigIntColumn = ColumnType<number | string, number | string | undefined, number | string>;
type Json<T> = ColumnType<T, string, string>;

export interface ConversationsTable {
  user_id: string;
  id: Generated<string>;
  title: string | null;
  summary: Generated<string>;
  summary_is_explicit: Generated<boolean>;
  metadata: Json<Record<string, unknown>>;
  message_count: Generated<number>;
  last_seq: BigIntColumn;
  last_message_at: Date | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  activity: BigIntColumn;
}

export interface MessagesTable {
  user_id: string;
  conversation_id: string;
  seq: BigIntColumn;
  id: Generated<string>;
  turn_id: string | null;
  role: string;
  content: string;
  summary: ColumnType<string, never, never>;
  metadata: Json<Record<string, unknown>>;
  aborted: Generated<boolean>;
  created_at: Timestamp;
}

export interface StreamedTurnsTable {
  user_id: string;
  id: string;
  conversation_id: string;
  state: Generated<'streaming' | 'committed' | 'aborted'>;
  user_message_id: string;
  assistant_message_id: string;
  user_content: string;
  user_metadata: Json<Record<string, unknown>>;
  assistant_content: Generated<string>;
  idempotency_key: string | null;
  request_hash: string | null;
  kept_partial: Generated<boolean>;
  abandon_after_ms: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  expires_at: Timestamp;
  finished_at: Date | null;
  /** Reserved by `turns.run` while its agent works, not begun by a client (migration 0009). */
  run_reservation: Generated<boolean>;
}

export interface ApiKeysTable {
  user_id: string;
  id: string;
  name: Generated<string>;
  prefix: string;
  secret_hash: string;
  created_at: Timestamp;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  conversation_id: string;
  turn_id: string;
  first_seq: BigIntColumn;
  request_hash: string;
  created_at: Timestamp;
}

export interface OnboardingSessionsTable {
  user_id: string;
  id: Generated<string>;
  flow: string;
  phase: string;
  progress: Generated<number>;
  steps: Json<Record<string, unknown>>;
  goals: Json<unknown[]>;
  context: Json<Record<string, unknown>>;
  status: Generated<'active' | 'completed' | 'abandoned'>;
  conversation_id: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  completed_at: Date | null;
  abandoned_at: Date | null;
}

export interface FeatureFlagsTable {
  name: string;
  description: Generated<string>;
  enabled: Generated<boolean>;
  /** `numeric(5,2)`: both drivers return it as a string. */
  rollout_percent: ColumnType<string | number, string | number | undefined, string | number>;
  salt: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface FeatureFlagOverridesTable {
  user_id: string;
  flag: string;
  enabled: boolean;
  created_at: Timestamp;
}

export interface InstallTable {
  key: string;
  value: Json<Record<string, unknown>>;
  recorded_at: Timestamp;
}

/** chatkeep's tables, as Kysely sees them inside the configured schema. */
export interface ChatkeepTables {
  conversations: ConversationsTable;
  messages: MessagesTable;
  idempotency_keys: IdempotencyKeysTable;
  onboarding_sessions: OnboardingSessionsTable;
  streamed_turns: StreamedTurnsTable;
  api_keys: ApiKeysTable;
  feature_flags: FeatureFlagsTable;
  feature_flag_overrides: FeatureFlagOverridesTable;
  install: InstallTable;
}
