import type { Migration } from '../migrate/migration.js';
import { appendTurnFunction } from './append-turn-function.js';

/**
 * Message times that never go back within a conversation: `append_turn`
 * version 2 (see append-turn-function.ts for why). Replacing a function's
 * body takes no lock on any table; sessions pick the new body up at their
 * next call.
 */
export const monotonicMessageTimesMigration: Migration = {
  version: 10,
  name: 'monotonic-message-times',
  up: (ctx) => [appendTurnFunction(ctx, 2, 'create or replace')],
  down: (ctx) => [appendTurnFunction(ctx, 1, 'create or replace')],
};
