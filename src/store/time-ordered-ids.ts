import { randomFillSync } from 'node:crypto';

/** Ids drawn per refill of the random pool: one `randomFillSync` call per 256 ids. */
const POOL_IDS = 256;
const ID_BYTES = 16;
/** rand_a is a 12-bit counter (RFC 9562 §6.2, method 1); it starts below half so it has room to count. */
const COUNTER_MAX = 0xfff;
const COUNTER_START_MASK = 0x7ff;
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** Makes UUIDv7 strings; see {@link timeOrderedIds}. */
export type IdSource = () => string;

/**
 * A source of UUIDv7 ids (RFC 9562): 48 bits of Unix milliseconds, a 12-bit
 * counter, 62 random bits. Ids from one source increase strictly, also
 * within one millisecond and when the clock steps back, so new rows land at
 * the right edge of a `(user_id, id)` index instead of on random leaf pages.
 *
 * Written here rather than taken from `uuid`: its v7 asks the OS for 16
 * random bytes per id through `crypto.getRandomValues`, which cost ~7 µs per
 * id on the 2-core VMs (three ids per turn: 11 % of a turn's client CPU,
 * bench/README.md, "Client CPU per turn"). This draws 256 ids' worth of
 * randomness per `randomFillSync`.
 *
 * @param clock milliseconds since the epoch (tests pass a fixed clock)
 */
export function timeOrderedIds(clock: () => number = Date.now): IdSource {
  const pool = new Uint8Array(ID_BYTES * POOL_IDS);
  let offset = pool.length;
  let lastMs = -1;
  let counter = 0;
  return () => {
    if (offset === pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const r = offset;
    offset += ID_BYTES;
    const now = clock();
    if (now > lastMs) {
      lastMs = now;
      counter = ((pool[r + 6]! << 8) | pool[r + 7]!) & COUNTER_START_MASK;
    } else if (counter < COUNTER_MAX) {
      counter++;
    } else {
      // 2,048+ ids in one millisecond (or a clock that stepped back): borrow
      // the next millisecond rather than repeat or reorder an id.
      lastMs++;
      counter = ((pool[r + 6]! << 8) | pool[r + 7]!) & COUNTER_START_MASK;
    }
    const ms = lastMs;
    const high = Math.floor(ms / 0x1000000); // the top 24 of the 48 bits
    return (
      HEX[(high >>> 16) & 0xff]! +
      HEX[(high >>> 8) & 0xff]! +
      HEX[high & 0xff]! +
      HEX[(ms >>> 16) & 0xff]! +
      '-' +
      HEX[(ms >>> 8) & 0xff]! +
      HEX[ms & 0xff]! +
      '-' +
      HEX[0x70 | (counter >>> 8)]! +
      HEX[counter & 0xff]! +
      '-' +
      HEX[0x80 | (pool[r + 8]! & 0x3f)]! +
      HEX[pool[r + 9]!]! +
      '-' +
      HEX[pool[r + 10]!]! +
      HEX[pool[r + 11]!]! +
      HEX[pool[r + 12]!]! +
      HEX[pool[r + 13]!]! +
      HEX[pool[r + 14]!]! +
      HEX[pool[r + 15]!]!
    );
  };
}
