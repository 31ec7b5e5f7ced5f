import { describe, expect, it } from 'vitest';
import { FlagCache, type FlagSnapshot } from '../../src/store/flag-cache.js';

/** A snapshot told apart from others by its one flag's rollout. */
const snapshot = (rolloutPercent: number): FlagSnapshot => ({
  flags: new Map([['beta', { enabled: true, rolloutPercent, salt: 'beta' }]]),
  overrides: new Map(),
});

/** A load the test finishes by hand, so it can let a write land while the load is running. */
function manualLoads() {
  const pending: ((value: FlagSnapshot) => void)[] = [];
  const load = () => new Promise<FlagSnapshot>((resolve) => pending.push(resolve));
  return { load, pending };
}

const percent = (value: FlagSnapshot) => value.flags.get('beta')?.rolloutPercent;

/** The in-process flag cache: single-flight loads, and a write is never hidden by a load that started before it. */
describe('FlagCache', () => {
  it('callers arriving during a load share it, and its snapshot is then served from memory', async () => {
    const { load, pending } = manualLoads();
    const cache = new FlagCache(load, 60_000);
    const [a, b] = [cache.get(), cache.get()];
    expect(pending).toHaveLength(1);
    pending[0]!(snapshot(10));
    expect([percent(await a), percent(await b), percent(await cache.get())]).toEqual([10, 10, 10]);
    expect(pending).toHaveLength(1);
  });

  // The race: a load reads the flags, a write commits and invalidates, then the load's (older) result arrives.
  it('a load that started before a write answers its own callers but is not kept: the next get reads again', async () => {
    const { load, pending } = manualLoads();
    const cache = new FlagCache(load, 60_000);
    const before = cache.get();
    cache.invalidate();
    pending[0]!(snapshot(10));
    expect(percent(await before)).toBe(10);

    const after = cache.get();
    expect(pending).toHaveLength(2);
    pending[1]!(snapshot(50));
    expect(percent(await after)).toBe(50);
    expect(percent(await cache.get())).toBe(50);
  });
});
