import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** The names a browser uses for this machine: what a server bound to loopback answers to. */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Loopback in every spelling of an address: 127.0.0.0/8, `::1` (also as
 * `0:0:0:0:0:0:0:1`, `0::1`) and IPv4-mapped `::ffff:127.0.0.0/104`, all of
 * which Node binds as loopback.
 */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/** Whether `address` (what the server listens on) is reachable from this machine only. */
export function isLoopbackAddress(address: string): boolean {
  const host = address.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (host === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The host name of a `Host` header or of an `Origin`'s authority, lower-cased
 * and without the port: `LocalHost:3001` → `localhost`, `[::1]:3001` →
 * `[::1]`. Parsed strictly rather than with `new URL('http://' + host)`,
 * which reads `evil.example@127.0.0.1` as the host `127.0.0.1`.
 */
export function hostnameOf(authority: string): string | undefined {
  return /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/i.exec(authority)?.[1]?.toLowerCase();
}

/**
 * Why a request's `Host` or `Origin` is refused, or `undefined` when both
 * are allowed: the DNS-rebinding check the MCP specification asks of local
 * servers ("Servers MUST validate the Origin header … bind only to localhost",
 * MCP transports, security warning). A web page whose name an attacker
 * re-points at 127.0.0.1 reaches a local server with its own name in `Host`
 * and `Origin`; a bearer token already stops it from calling a tool, and this
 * stops it from reaching the server at all.
 *
 * `Host` must name one of `allowed`; an `Origin`, which only browsers send,
 * must be `http(s)://` one of them too. Names are compared without ports.
 */
export function refusedHost(
  headers: IncomingHttpHeaders,
  allowed: readonly string[],
): string | undefined {
  const host = hostnameOf(headers.host ?? '');
  if (host === undefined || !allowed.includes(host))
    return 'the Host header does not name this server';
  const origin = headers.origin;
  if (origin === undefined) return undefined;
  const match = /^https?:\/\/([^/]*)$/i.exec(origin);
  const originHost = match?.[1] === undefined ? undefined : hostnameOf(match[1]);
  if (originHost === undefined || !allowed.includes(originHost))
    return 'requests from web pages of another origin are not accepted';
  return undefined;
}
