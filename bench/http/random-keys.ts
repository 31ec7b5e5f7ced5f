/**
 * A deterministic pseudo-random sequence (mulberry32): the library loop and
 * the HTTP load generator draw their (user, conversation) pairs from the same
 * seeded sequence, so both levels see the same request distribution.
 */
export function randomSequence(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks from `items` uniformly, in the order of `randomSequence(seed)`. */
export function picker<T>(items: readonly T[], seed: number): () => T {
  if (items.length === 0) throw new Error('picker: nothing to pick from');
  const next = randomSequence(seed);
  return () => items[Math.floor(next() * items.length)] as T;
}
