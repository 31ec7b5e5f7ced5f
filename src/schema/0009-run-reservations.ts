import type { Migration } from '../migrate/migration.js';

/**
 * `turns.run` reserves its turn in `streamed_turns` while the agent works,
 * as a streamed turn does, so that the conversation counts as in use (a
 * retention purge no longer deletes it under a running agent, losing the
 * user's message and a paid reply) and a retry under the same idempotency
 * key waits for the run in flight instead of calling the agent a second
 * time. `run_reservation` tells such a row from a client's streamed turn:
 * a run shows nothing while it works, so a failed or abandoned run is
 * deleted rather than left aborted, and its key can be used again.
 *
 * A boolean with a constant default is a catalogue-only change (no rewrite,
 * no CHECK to validate), so the lock on `streamed_turns` lasts milliseconds.
 */
export const runReservationsMigration: Migration = {
  version: 9,
  name: 'run-reservations',
  up: (ctx) => [`alter table ${ctx.schema}.streamed_turns add column run_reservation boolean not null default false`],
  down: (ctx) => [`alter table ${ctx.schema}.streamed_turns drop column run_reservation`],
};
