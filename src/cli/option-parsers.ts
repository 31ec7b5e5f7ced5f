import { InvalidArgumentError } from 'commander';

/** `--to <version>`: a migration version, 0 meaning "before the first migration". */
export function parseVersion(value: string): number {
  if (!/^\d{1,9}$/.test(value))
    throw new InvalidArgumentError('expected a migration version: a whole number >= 0, e.g. 2');
  return Number(value);
}

/** A duration in milliseconds, e.g. `--lock-wait 5000`. */
export function parseMilliseconds(value: string): number {
  if (!/^\d{1,9}$/.test(value))
    throw new InvalidArgumentError('expected milliseconds: a whole number >= 0, e.g. 5000');
  return Number(value);
}
