import { isIP } from 'node:net';

/** The named ranges Fastify's `trustProxy` (proxy-addr) understands. */
const NAMED_RANGES: ReadonlySet<string> = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * The first entry of a `trustProxy` list that is neither an IP address, a
 * CIDR range (`10.0.0.0/8`, `fd00::/8`) nor one of proxy-addr's names
 * (`loopback`, `linklocal`, `uniquelocal`); undefined when all are valid.
 * Checked up front so a typo is a configuration error naming the entry, not
 * a TypeError from deep inside Fastify.
 *
 * @example
 * invalidTrustedProxy(['loopback', '10.0.0.0/8']) // undefined
 * invalidTrustedProxy(['10.0.0.0/33']) // '10.0.0.0/33'
 */
export function invalidTrustedProxy(proxies: readonly string[]): string | undefined {
  return proxies.find((entry) => !validEntry(entry));
}

function validEntry(entry: string): boolean {
  if (NAMED_RANGES.has(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}
