/** A conversation as every target addresses it: the owning user and its id. */
export interface ConversationRef {
  readonly userId: string;
  readonly id: string;
}

/**
 * One system under test. A Target is the seam between the workloads (which
 * only time calls) and a storage implementation (chatkeep, the raw-SQL floor,
 * LangChain); each method is what an application would call per request.
 */
export interface Target {
  /** Column label in the results table. */
  readonly name: string;
  newConversation(userId: string): Promise<ConversationRef>;
  /** Stores a user message and the assistant reply of one turn. */
  appendTurn(conversation: ConversationRef, user: string, assistant: string): Promise<void>;
  /** The latest `limit` messages in chronological order; resolves to how many were read. */
  latest(conversation: ConversationRef, limit: number): Promise<number>;
  close(): Promise<void>;
}
