import { createSecretKey } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ChatkeepError } from '../../errors/index.js';
import type { AuthOptions } from '../server-options.js';

/** Verifies a JWT and returns its `sub`, or undefined when it is not valid for us; throws CK_AUTH_UNAVAILABLE when the JWKS keys cannot be fetched to check it. */
export type JwtVerifier = (token: string) => Promise<string | undefined>;

/** jose's codes for a token that does not fit the fetched keys: invalid, not unverifiable. */
const TOKEN_FAULTS: ReadonlySet<string> = new Set([
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JWS_INVALID',
]);

/** How long a verified token is remembered (never past its `exp`). */
const VERIFIED_CACHE_MS = 30_000;
const VERIFIED_CACHE_MAX = 10_000;

/**
 * A verifier for the configured JWT mode(s): HS256 with a shared secret,
 * and/or any asymmetric algorithm from a JWKS URL (keys fetched and cached by
 * jose, refetched on an unknown `kid`). Issuer and audience are checked when
 * configured; `exp`/`nbf` always (jose's default, with no clock tolerance).
 *
 * Two costs are paid once instead of per request, as measured by the HTTP
 * benchmark: the HS256 secret is imported as a KeyObject up front (jose
 * imports a raw Uint8Array on every call, ~70 µs), and a verified token is
 * remembered for up to 30 s but never past its own `exp` — a JWT cannot be
 * revoked before it expires anyway, so the cache changes no answer.
 */
export function jwtVerifier(options: AuthOptions): JwtVerifier | undefined {
  const checks = {
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
    ...(options.audience !== undefined ? { audience: options.audience } : {}),
  };
  const verifiers: ((token: string) => Promise<{ payload: { sub?: string; exp?: number } }>)[] = [];
  if (options.jwtSecret !== undefined) {
    if (Buffer.byteLength(options.jwtSecret) < 32) {
      throw new ChatkeepError('CK_CONFIG', 'jwtSecret: must be at least 32 bytes (HS256 needs a 256-bit key)', { field: 'jwtSecret' });
    }
    const key = createSecretKey(Buffer.from(options.jwtSecret));
    verifiers.push((token) => jwtVerify(token, key, { ...checks, algorithms: ['HS256'] }));
  }
  if (options.jwksUrl !== undefined) {
    let jwks: JWTVerifyGetKey;
    try {
      jwks = createRemoteJWKSet(new URL(options.jwksUrl));
    } catch (error) {
      throw new ChatkeepError('CK_CONFIG', `jwksUrl: not a valid URL`, { field: 'jwksUrl' }, { cause: error });
    }
    // The keys could not be fetched (a network error, a non-200 answer, no
    // valid key set, a timeout): the token was not found invalid, it could
    // not be checked. Answered 401 it would count as a failed authentication,
    // and an identity provider's outage would lock every client out (429)
    // for the rest of the window; it is a 503 like a database outage during
    // an API-key lookup. A token whose key is missing from a fetched set, or
    // whose algorithm does not fit it, is invalid as before.
    const getKey: JWTVerifyGetKey = async (header, token) => {
      try {
        return await jwks(header, token);
      } catch (error) {
        if (TOKEN_FAULTS.has((error as { code?: unknown }).code as string)) throw error;
        throw new ChatkeepError('CK_AUTH_UNAVAILABLE', undefined, {}, { cause: error });
      }
    };
    verifiers.push((token) => jwtVerify(token, getKey, checks));
  }
  if (verifiers.length === 0) return undefined;
  const verified = new Map<string, { sub: string; until: number }>();
  return async (token) => {
    const now = Date.now();
    const hit = verified.get(token);
    if (hit !== undefined) {
      if (hit.until > now) return hit.sub;
      verified.delete(token);
    }
    let unavailable: ChatkeepError | undefined;
    for (const verify of verifiers) {
      try {
        const { payload } = await verify(token);
        if (typeof payload.sub !== 'string' || payload.sub === '') continue;
        const until = Math.min(now + VERIFIED_CACHE_MS, payload.exp !== undefined ? payload.exp * 1000 : Infinity);
        if (verified.size >= VERIFIED_CACHE_MAX) verified.clear();
        verified.set(token, { sub: payload.sub, until });
        return payload.sub;
      } catch (error) {
        if (error instanceof ChatkeepError) unavailable = error;
        // Otherwise invalid for this verifier (bad signature, expired, wrong audience…): try the next.
      }
    }
    if (unavailable !== undefined) throw unavailable;
    return undefined;
  };
}
