import { afterAll, beforeAll } from 'vitest';
import { openStore, type Store, type StoreOptions } from '../../src/index.js';
import { scratchDatabase, type BackendName, type ScratchDatabase } from './backends.js';

/**
 * A migrated store on a brand-new database of the given backend, opened before
 * the suite and dropped after it. `get()` returns it inside tests;
 * `conversation()` gives a new user with a new conversation in it.
 */
export function useStore(backend: BackendName, options: Omit<StoreOptions, 'database'> = {}): {
  get: () => Store;
  scratch: () => ScratchDatabase;
  conversation: (userPrefix?: string) => Promise<{ store: Store; user: string; id: string }>;
} {
  let scratch: ScratchDatabase | undefined;
  let store: Store | undefined;
  beforeAll(async () => {
    scratch = await scratchDatabase(backend);
    store = await openStore({ ...options, database: scratch.database });
  });
  afterAll(async () => {
    await store?.close();
    await scratch?.drop();
  });
  const get = (): Store => {
    if (store === undefined) throw new Error('store not open yet');
    return store;
  };
  return {
    get,
    conversation: async (userPrefix) => {
      const user = newUser(userPrefix);
      const { id } = await get().conversations.create(user);
      return { store: get(), user, id };
    },
    scratch: () => {
      if (scratch === undefined) throw new Error('database not open yet');
      return scratch;
    },
  };
}

/** Runs `work` and returns the error it throws (fails the test if it does not throw). */
export async function caught(work: () => Promise<unknown>): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await work();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the call to throw, but it succeeded');
}

let counter = 0;
/** A user id unique within this test process. */
export function newUser(prefix = 'user'): string {
  counter++;
  return `${prefix}-${process.pid}-${counter}`;
}
