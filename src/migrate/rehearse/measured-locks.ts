import { blocksReads, blocksWrites } from './lock-modes.js';
import type { LockSample } from './lock-sampler.js';
import type { HeldLock } from './rehearsal-report.js';
import type { TimedStep } from './step-timeline.js';

/**
 * The locks a step held, from the `pg_locks` samples taken while it ran.
 * Each sample stands for the time from halfway since the previous sample to
 * halfway to the next one (the step's start and end bound the first and the
 * last), and a lock's held time is the sum over the samples that saw it: an
 * estimate within about one sampling interval of the truth.
 *
 * Whether a lock is on a relation the step created is read from the first
 * sample that saw it. Later samples cannot tell: PostgreSQL makes a commit
 * visible before it releases the transaction's locks, so a sample in that
 * window sees a created relation by name (and a dropped one no longer)
 * while its lock is still listed.
 */
export function measuredLocks(
  step: TimedStep,
  samples: readonly LockSample[],
  names: ReadonlyMap<string, string | undefined>,
): { readonly locks: HeldLock[]; readonly samples: number } {
  const inside = samples.filter((s) => s.at >= step.start && s.at <= step.end);
  const held = new Map<string, { oid: string; mode: string; ms: number; visible: boolean }>();
  for (const [i, sample] of inside.entries()) {
    const from = i === 0 ? step.start : (inside[i - 1]!.at + sample.at) / 2;
    const to = i === inside.length - 1 ? step.end : (sample.at + inside[i + 1]!.at) / 2;
    for (const lock of sample.locks) {
      const key = `${lock.oid}/${lock.mode}`;
      const entry = held.get(key) ?? { oid: lock.oid, mode: lock.mode, ms: 0, visible: lock.visible };
      entry.ms += to - from;
      held.set(key, entry);
    }
  }
  const locks = [...held.values()].flatMap((h): HeldLock[] => {
    // A name resolved to undefined is a system relation (catalogue, TOAST): not reported.
    if (names.has(h.oid) && names.get(h.oid) === undefined) return [];
    return [
      {
        relation: names.get(h.oid) ?? `(relation ${h.oid}, dropped later in the rehearsal)`,
        mode: h.mode,
        heldMs: Math.round(h.ms),
        blocksWrites: blocksWrites(h.mode),
        blocksReads: blocksReads(h.mode),
        newRelation: !h.visible,
      },
    ];
  });
  return { locks, samples: inside.length };
}
