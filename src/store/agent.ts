import { ChatkeepError } from '../errors/index.js';
import type { MessageRole } from '../schema/index.js';
import type { JsonObject } from './rows.js';

/** A message as an agent sees it: plain data, detached from the database. */
export interface AgentMessage {
  readonly role: MessageRole;
  readonly content: string;
  readonly createdAt: Date;
}

/** Everything an agent is given. It gets no database handle (SPEC R-SEC-2). */
export interface AgentInput {
  readonly userId: string;
  readonly conversationId: string;
  /** Earlier messages of the conversation, oldest first. */
  readonly history: readonly AgentMessage[];
  /** The user's new message. */
  readonly message: string;
  /** Aborted when the turn times out or the caller gives up; pass it to your HTTP client. */
  readonly signal: AbortSignal;
}

export interface AgentReply {
  readonly content: string;
  readonly metadata?: JsonObject;
}

/**
 * A plain async function that produces the assistant's reply. If it throws,
 * times out or returns an invalid reply, the turn stores nothing.
 *
 * @example
 * const echo: Agent = async ({ message }) => `You said: ${message}`;
 */
export type Agent = (input: AgentInput) => Promise<string | AgentReply>;

/**
 * An agent that produces its reply piece by piece, as a model streams tokens.
 * Used by `store.turns.stream` and the HTTP server's streaming endpoint.
 *
 * @example
 * const agent: StreamingAgent = async function* ({ message }) { yield 'You said: '; yield message; };
 */
export type StreamingAgent = (input: AgentInput) => AsyncIterable<string>;

/**
 * Why a turn aborted from outside stored nothing: the signal's reason when
 * it is one of chatkeep's errors (a server shutting down aborts with
 * CK_SHUTTING_DOWN, which tells a client to retry, elsewhere if need be,
 * where CK_AGENT_FAILED blamed the agent), else CK_AGENT_FAILED.
 */
export function abortedTurnError(signal: AbortSignal | undefined, message = 'The turn was aborted; nothing was saved'): ChatkeepError {
  const reason: unknown = signal?.reason;
  return reason instanceof ChatkeepError ? reason : new ChatkeepError('CK_AGENT_FAILED', message);
}
