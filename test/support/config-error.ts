import { expect } from 'vitest';
import { ChatkeepError } from '../../src/errors/index.js';

/**
 * Calls `fn`, which must refuse its arguments by throwing a CK_CONFIG
 * ChatkeepError at once (builders validate before anything runs), and
 * returns that error for the test to check what it names.
 */
export function configErrorOf(fn: () => unknown): ChatkeepError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ChatkeepError);
    expect((error as ChatkeepError).code).toBe('CK_CONFIG');
    return error as ChatkeepError;
  }
  throw new Error('expected a CK_CONFIG error');
}
