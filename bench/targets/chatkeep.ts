import { openStore, type Store, type StoreOptions } from 'chatkeep';
import type { ConversationRef, Target } from './target.js';

export interface ChatkeepTargetOptions extends StoreOptions {
  /** Column label in the results (default `chatkeep`); set when one run measures two chatkeep stores. */
  readonly name?: string;
}

/** chatkeep through its public API, exactly as an application calls it. */
export class ChatkeepTarget implements Target {
  readonly name: string;
  readonly #store: Store;

  private constructor(store: Store, name: string) {
    this.#store = store;
    this.name = name;
  }

  static async open(options: ChatkeepTargetOptions): Promise<ChatkeepTarget> {
    const { name = 'chatkeep', ...storeOptions } = options;
    return new ChatkeepTarget(await openStore(storeOptions), name);
  }

  /** Whether the database's row-level security policies bind the store's role (`Store.rowLevelSecurity`). */
  get rowLevelSecurity(): boolean {
    return this.#store.rowLevelSecurity;
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
