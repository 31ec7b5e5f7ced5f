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

/** A whole number within [min, max], e.g. `--port 8787`; `name` is only for the message. */
export function parseInteger(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${name}: expected a whole number from ${min} to ${max}`);
    }
    return Number(value);
  };
}
