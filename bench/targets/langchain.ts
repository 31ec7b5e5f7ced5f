import { randomUUID } from 'node:crypto';
import { PostgresChatMessageHistory } from '@langchain/community/stores/message/postgres';
import { AIMessage, HumanMessage, mapChatMessagesToStoredMessages } from '@langchain/core/messages';
import type pg from 'pg';
import type { ConversationRef, Target } from './target.js';

/** LangChain's default table name, used as shipped. */
export const LANGCHAIN_TABLE = 'langchain_chat_histories';

/**
 * LangChain's PostgresChatMessageHistory, one instance per session
 * (conversation id = sessionId), on its own pg Pool.
 */
export class LangchainTarget implements Target {
  readonly name: string;
  readonly #pool: pg.Pool;
  readonly #histories = new Map<string, PostgresChatMessageHistory>();

  constructor(pool: pg.Pool, name = 'LangChain') {
    this.#pool = pool;
    this.name = name;
  }

  /** Lets LangChain create its table (CREATE TABLE IF NOT EXISTS, no index on session_id). */
  async createTable(): Promise<void> {
    await new PostgresChatMessageHistory({
      pool: this.#pool,
      sessionId: 'bench-setup',
    }).getMessages();
  }

  /** A history for `sessionId`, cached so each session's instance is built once. */
  #history(sessionId: string): PostgresChatMessageHistory {
    let history = this.#histories.get(sessionId);
    if (history === undefined) {
      history = new PostgresChatMessageHistory({ pool: this.#pool, sessionId });
      // Generous to LangChain: a fresh instance runs CREATE TABLE IF NOT EXISTS
      // (one extra round trip) before its first read or write. The table
      // exists, so mark the instance initialised and measure only the
      // message queries themselves.
      (history as unknown as { initialized: boolean }).initialized = true;
      this.#histories.set(sessionId, history);
    }
    return history;
  }

  newConversation(userId: string): Promise<ConversationRef> {
    // LangChain has no conversation row: a session exists once it has messages.
    return Promise.resolve({ userId, id: randomUUID() });
  }

  async appendTurn(c: ConversationRef, user: string, assistant: string): Promise<void> {
    // Two INSERTs, one after the other, each on whatever pooled connection is
    // free: not atomic (a crash between them leaves half a turn).
    await this.#history(c.id).addMessages([new HumanMessage(user), new AIMessage(assistant)]);
  }

  async latest(c: ConversationRef, limit: number): Promise<number> {
    // getMessages() has no limit: it reads and deserialises the whole session.
    const messages = await this.#history(c.id).getMessages();
    return messages.slice(-limit).length;
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}

/** The JSON LangChain stores for a HumanMessage / AIMessage (`{ ...data, type }`), for seeding. */
export function langchainTemplates(): { human: string; ai: string } {
  const [human, ai] = mapChatMessagesToStoredMessages([new HumanMessage('x'), new AIMessage('x')]);
  if (human === undefined || ai === undefined)
    throw new Error('LangChain returned no stored messages');
  return {
    human: JSON.stringify({ ...human.data, type: human.type }),
    ai: JSON.stringify({ ...ai.data, type: ai.type }),
  };
}
