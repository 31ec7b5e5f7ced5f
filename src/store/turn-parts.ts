import { createHash } from 'node:crypto';
import { ChatkeepError, ValidationError, wrongValue } from '../errors/index.js';
import type { JsonObject, Message, Turn } from './rows.js';
import { z } from 'zod';
import { idempotencyKeySchema, limitSchema, metadataSchema, parse, type Rules } from './validation.js';

/** A message to write: its text, and optional metadata (a JSON object). */
export interface MessageInput {
  readonly content: string;
  readonly metadata?: JsonObject;
}

/** What a message may be given as, in error messages (the HTTP schema says the same). */
export const MESSAGE_INPUT = 'a string or { content, metadata }';

/**
 * Validates a message given as text or `{ content, metadata }`; errors name
 * `field`. A caller's object may hold nothing else: a misplaced key (`role`,
 * `meta`) is an error rather than silently dropped. An agent's reply is read
 * leniently (`strict: false`): extra keys there are ignored, not a failed turn.
 */
export function messageInput(rules: Rules, input: string | MessageInput, field: string, strict = true): Required<MessageInput> {
  if (typeof input === 'string') return { content: parse(rules.content, input, field), metadata: {} };
  if (typeof input !== 'object' || input === null) {
    throw new ValidationError(field, wrongValue(MESSAGE_INPUT, input));
  }
  const unknown = strict ? Object.keys(input).find((key) => key !== 'content' && key !== 'metadata') : undefined;
  if (unknown !== undefined) throw new ValidationError(`${field}.${unknown}`, 'unknown field');
  return {
    content: parse(rules.content, input.content, `${field}.content`),
    metadata: input.metadata === undefined ? {} : parse(metadataSchema, input.metadata, `${field}.metadata`),
  };
}

/**
 * What an idempotency key is bound to: the conversation and the user's
 * message. The id is hashed lower-cased: `ABC…` and `abc…` are one uuid,
 * one conversation (Swift's UUID().uuidString is upper-case, the store's
 * answers lower-case), so a retry spelling it the other way is the same request.
 */
export function requestHash(conversationId: string, message: Required<MessageInput>): string {
  return createHash('sha256').update(canonicalJson([conversationId.toLowerCase(), message.content, message.metadata])).digest('hex');
}

/**
 * JSON with every object's keys sorted. The order of an object's keys means
 * nothing in JSON (jsonb does not even keep it), so a retry whose client
 * rebuilt the metadata in another order is the same request: hashed in the
 * order given, it was refused as CK_IDEMPOTENCY_MISMATCH. Arrays keep their
 * order. Object.fromEntries defines keys (an own `__proto__` stays a key).
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

/** A turn from its two stored messages, user first. */
export function toTurn(messages: readonly Message[], replayed: boolean): Turn {
  const [userMessage, assistantMessage] = messages;
  if (userMessage === undefined || assistantMessage === undefined) {
    throw new ChatkeepError('CK_INTERNAL', 'A stored turn is missing a message');
  }
  return {
    id: userMessage.turnId ?? '',
    conversationId: userMessage.conversationId,
    userMessage,
    assistantMessage,
    replayed,
  };
}

/** The options every agent-driven turn takes (`turns.run`, `turns.stream`). */
export const agentTurnOptionFields = {
  timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  historyLimit: limitSchema(1000).optional(),
  historyTokenBudget: z.number().int('expected an integer').min(1).optional(),
  idempotencyKey: idempotencyKeySchema.optional(),
  signal: z.instanceof(AbortSignal).optional(),
};
