import { describe, expect, it } from 'vitest';
import { timeOrderedIds } from '../../src/store/time-ordered-ids.js';

/** RFC 9562 UUIDv7: version nibble 7, variant bits 10. */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 48-bit Unix-millisecond timestamp an id carries. */
const millisOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
/** The 12-bit counter in rand_a. */
const counterOf = (id: string) => parseInt(id.slice(15, 18), 16);

function expectStrictlyIncreasing(ids: readonly string[]): void {
  for (let i = 1; i < ids.length; i++) {
    if (!(ids[i - 1]! < ids[i]!)) throw new Error(`id ${i} (${ids[i]}) does not sort after id ${i - 1} (${ids[i - 1]})`);
  }
}

describe('time-ordered ids (UUIDv7)', () => {
  it('are RFC 9562 version 7 ids carrying the clock', () => {
    const next = timeOrderedIds();
    const before = Date.now();
    const ids = Array.from({ length: 1000 }, next);
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(UUID_V7);
      expect(millisOf(id)).toBeGreaterThanOrEqual(before);
      expect(millisOf(id)).toBeLessThanOrEqual(after + 1);
    }
  });

  it('encode every bit of a 48-bit timestamp in the right place', () => {
    for (const ms of [0, 1, 0xff, 0x1_0000_0000, 0xffff_ffff_ffff, 1_795_468_296_938]) {
      const id = timeOrderedIds(() => ms)();
      expect(millisOf(id)).toBe(ms);
    }
  });

  it('increase strictly across pool refills and within one millisecond (100,000 ids, 390 refills)', () => {
    const next = timeOrderedIds();
    const ids = Array.from({ length: 100_000 }, next);
    expectStrictlyIncreasing(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('count within a frozen millisecond, then borrow the next one instead of repeating', () => {
    const next = timeOrderedIds(() => 5_000);
    const ids = Array.from({ length: 10_000 }, next);
    expectStrictlyIncreasing(ids);
    expect(counterOf(ids[0]!)).toBeLessThanOrEqual(0x7ff);
    expect(millisOf(ids[0]!)).toBe(5_000);
    // At least 2,048 ids per millisecond before the counter (12 bits) runs out.
    const perMillisecond = new Map<number, number>();
    for (const id of ids) perMillisecond.set(millisOf(id), (perMillisecond.get(millisOf(id)) ?? 0) + 1);
    for (const count of [...perMillisecond.values()].slice(0, -1)) expect(count).toBeGreaterThanOrEqual(2048);
    expect(perMillisecond.size).toBeGreaterThan(1);
  });

  it('keep increasing when the clock steps back', () => {
    let now = 1_000_000;
    const next = timeOrderedIds(() => now);
    const early = Array.from({ length: 50 }, next);
    now -= 60_000; // an NTP correction of a minute
    const late = Array.from({ length: 50 }, next);
    expectStrictlyIncreasing([...early, ...late]);
    now = 2_000_000;
    const recovered = next();
    expect(millisOf(recovered)).toBe(2_000_000);
    expect(recovered > late.at(-1)!).toBe(true);
  });

  it('carry 62 random bits: two sources at the same millisecond never collide', () => {
    const a = timeOrderedIds(() => 42);
    const b = timeOrderedIds(() => 42);
    const ids = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      ids.add(a());
      ids.add(b());
    }
    expect(ids.size).toBe(40_000);
  });
});
