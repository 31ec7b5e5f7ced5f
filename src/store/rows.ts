import type { MessageRole } from '../schema/index.js';

/** A JSON object, as stored in `metadata`, `context` and `steps` columns. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** A conversation of one user (SPEC R-CHAT-1). */
export interface Conversation {
  readonly id: string;
  readonly userId: string;
  readonly title: string | null;
  /** The first 100 characters of the first message, unless set explicitly. */
  readonly summary: string;
  readonly metadata: JsonObject;
  readonly messageCount: number;
  readonly lastMessageAt: Date | null;
  readonly createdAt: Date;
  /** Refreshed on every change, including every new message. */
  readonly updatedAt: Date;
}

/** A message of a conversation (SPEC R-CHAT-2). */
export interface Message {
  readonly id: string;
  readonly conversationId: string;
  readonly userId: string;
  /** Position in the conversation: 1, 2, 3, … with no gaps. */
  readonly seq: number;
  readonly role: MessageRole;
  readonly content: string;
  /** The first 100 characters of `content`, derived by the database. */
  readonly summary: string;
  readonly metadata: JsonObject;
  /** The turn that wrote this message, when it was written as part of one. */
  readonly turnId: string | null;
  /** True for an assistant reply that was cut short (an aborted streamed turn kept on request). */
  readonly aborted: boolean;
  readonly createdAt: Date;
}

/** A user message and the assistant reply, stored together (SPEC R-CHAT-3). */
export interface Turn {
  readonly id: string;
  readonly conversationId: string;
  readonly userMessage: Message;
  readonly assistantMessage: Message;
  /** True when an idempotency key matched an earlier turn and nothing new was written. */
  readonly replayed: boolean;
}

export type OnboardingStatus = 'active' | 'completed' | 'abandoned';

/** One run of an onboarding flow for a user (SPEC R-ONB-1). */
export interface OnboardingSession {
  readonly id: string;
  readonly userId: string;
  readonly flow: string;
  readonly phase: string;
  /** 0–100. */
  readonly progress: number;
  /** Per-step state, keyed by step name. */
  readonly steps: JsonObject;
  readonly goals: readonly unknown[];
  readonly context: JsonObject;
  readonly status: OnboardingStatus;
  readonly conversationId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly completedAt: Date | null;
  readonly abandonedAt: Date | null;
}

type Row = Record<string, unknown>;

const asDate = (v: unknown): Date => (v instanceof Date ? v : typeof v === 'number' ? new Date(v) : new Date(String(v)));
const asDateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : asDate(v));
const asJson = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

export function toConversation(row: Row): Conversation {
  return {
    id: String(row['id']),
    userId: String(row['user_id']),
    title: (row['title'] as string | null) ?? null,
    summary: String(row['summary']),
    metadata: asJson<JsonObject>(row['metadata']),
    messageCount: Number(row['message_count']),
    lastMessageAt: asDateOrNull(row['last_message_at']),
    createdAt: asDate(row['created_at']),
    updatedAt: asDate(row['updated_at']),
  };
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** The columns a Message is read from; the owner and conversation come from the query itself. */
export const MESSAGE_COLUMNS = ['seq', 'id', 'turn_id', 'role', 'content', 'metadata', 'aborted', 'created_at'] as const;

/**
 * `left(content, 100)`, as the database's generated `summary` column computes
 * it: 100 characters (code points, not UTF-16 units). Computing it here spares
 * reading a second copy of every message's first 100 characters.
 */
export function messageSummary(content: string): string {
  if (content.length <= 100) return content;
  const head = content.slice(0, 100);
  // Without surrogate pairs, 100 UTF-16 units are exactly 100 characters.
  if (!SURROGATE.test(head)) return head;
  let out = '';
  let n = 0;
  for (const ch of content) {
    if (n++ === 100) break;
    out += ch;
  }
  return out;
}

/**
 * A Message from a row read as values in MESSAGE_COLUMNS order (a hot
 * statement with rowMode 'array'); the same object as {@link toMessage}.
 */
export function toMessageFromValues(values: readonly unknown[], userId: string, conversationId: string): Message {
  const content = String(values[4]);
  return {
    id: String(values[1]),
    conversationId,
    userId,
    seq: Number(values[0]),
    role: values[3] as MessageRole,
    content,
    summary: messageSummary(content),
    metadata: asJson<JsonObject>(values[5]),
    turnId: (values[2] as string | null) ?? null,
    aborted: values[6] === true,
    createdAt: asDate(values[7]),
  };
}

export function toMessage(row: Row, userId: string, conversationId: string): Message {
  const content = String(row['content']);
  return {
    id: String(row['id']),
    conversationId,
    userId,
    seq: Number(row['seq']),
    role: row['role'] as MessageRole,
    content,
    summary: messageSummary(content),
    metadata: asJson<JsonObject>(row['metadata']),
    turnId: (row['turn_id'] as string | null) ?? null,
    aborted: row['aborted'] === true,
    createdAt: asDate(row['created_at']),
  };
}

export function toOnboardingSession(row: Row): OnboardingSession {
  return {
    id: String(row['id']),
    userId: String(row['user_id']),
    flow: String(row['flow']),
    phase: String(row['phase']),
    progress: Number(row['progress']),
    steps: asJson<JsonObject>(row['steps']),
    goals: asJson<unknown[]>(row['goals']),
    context: asJson<JsonObject>(row['context']),
    status: row['status'] as OnboardingStatus,
    conversationId: (row['conversation_id'] as string | null) ?? null,
    createdAt: asDate(row['created_at']),
    updatedAt: asDate(row['updated_at']),
    completedAt: asDateOrNull(row['completed_at']),
    abandonedAt: asDateOrNull(row['abandoned_at']),
  };
}
