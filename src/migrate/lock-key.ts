import { createHash } from 'node:crypto';
import { ChatkeepError } from '../errors/index.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The advisory-lock key a migration set uses when none is given: the first
 * eight bytes of SHA-256(`chatkeep.migrate:<schema>.<table>`) as a signed
 * 64-bit integer. Two migration sets with different bookkeeping tables do not
 * block each other; two runners of the same set always meet on the same key.
 */
export function defaultLockKey(schema: string, table: string): bigint {
  const digest = createHash('sha256').update(`chatkeep.migrate:${schema}.${table}`).digest();
  return digest.readBigInt64BE(0);
}

/** Checks a user-supplied key fits PostgreSQL's `bigint`; throws CK_CONFIG otherwise. */
export function normaliseLockKey(key: bigint | number): bigint {
  if (typeof key === 'number') {
    if (!Number.isSafeInteger(key)) {
      throw new ChatkeepError(
        'CK_CONFIG',
        `lockKey: expected a safe integer or a bigint, got ${key}`,
        { field: 'lockKey' },
      );
    }
    return BigInt(key);
  }
  if (typeof key !== 'bigint' || key < INT64_MIN || key > INT64_MAX) {
    throw new ChatkeepError('CK_CONFIG', 'lockKey: expected a signed 64-bit integer', {
      field: 'lockKey',
    });
  }
  return key;
}
