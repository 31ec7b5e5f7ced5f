import { openStore, type Store, type StoreOptions } from 'chatkeep';
import type { ConversationRef, Target } from './target.js';

/** chatkeep through its public API, exactly as an application calls it. */
export class ChatkeepTarget implements Target {
  readonly name = 'chatkeep';
  readonly #store: Store;

  private constructor(store: Store) {
    this.#store = store;
  }

  static async open(options: StoreOptions): Promise<ChatkeepTarget> {
    return new ChatkeepTarget(await openStore(options));
  }

  async newConversation(userId: string): Promise<ConversationRef> {
    const c = await this.#store.conversations.create(userId, { title: 'bench' });
    return { userId, id: c.id };
  }

  async appendTurn(c: ConversationRef, user: string, assistant: string): Promise<void> {
    await this.#store.turns.append(c.userId, c.id, { user, assistant });
  }

  async latest(c: ConversationRef, limit: number): Promise<number> {
    const page = await this.#store.messages.list(c.userId, c.id, { limit });
    return page.messages.length;
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}
