import { createHash } from 'node:crypto';
import { ChatkeepError } from '../errors/index.js';

/**
 * Resolves a bearer token to the user it acts for, or `undefined` when the
 * token is not valid. This is the seam between the MCP HTTP front door and
 * whatever issues credentials: {@link staticTokens} today; chatkeep's HTTP
 * server plugs in its JWT / API-key verification here. It may be async; if it
 * throws, the request fails with 500 and no tool runs.
 *
 * @example
 * const authenticate: Authenticate = async (token) => (await verifyJwt(token))?.sub;
 */
export type Authenticate = (token: string) => string | undefined | Promise<string | undefined>;

/** One static credential: the token a client presents and the user it acts for. */
export interface StaticToken {
  readonly userId: string;
  readonly token: string;
}

/** Shortest token accepted: 16 characters (e.g. `openssl rand -hex 16` gives 32). */
export const MIN_TOKEN_LENGTH = 16;

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * An {@link Authenticate} over a fixed list of tokens, for development and
 * single-tenant deployments. Tokens are looked up by their SHA-256, so the
 * lookup's timing says nothing about how much of a guess was right.
 * Throws CK_CONFIG for an empty list, a short token or a token given twice.
 *
 * @example
 * const authenticate = staticTokens([{ userId: 'alice', token: process.env.ALICE_TOKEN! }]);
 */
export function staticTokens(tokens: readonly StaticToken[]): Authenticate {
  if (tokens.length === 0) {
    throw new ChatkeepError(
      'CK_CONFIG',
      'tokens: at least one token is needed; no mode serves tasks without authentication',
      { field: 'tokens' },
    );
  }
  const users = new Map<string, string>();
  tokens.forEach(({ userId, token }, i) => {
    if (typeof userId !== 'string' || userId.trim() === '' || userId.length > 256) {
      throw new ChatkeepError('CK_CONFIG', `tokens[${i}].userId: expected a user id`, {
        field: `tokens[${i}].userId`,
      });
    }
    if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      throw new ChatkeepError(
        'CK_CONFIG',
        `tokens[${i}].token: expected at least ${MIN_TOKEN_LENGTH} characters without spaces`,
        {
          field: `tokens[${i}].token`,
        },
      );
    }
    const key = digest(token);
    if (users.has(key))
      throw new ChatkeepError('CK_CONFIG', `tokens[${i}].token: the same token is given twice`, {
        field: `tokens[${i}].token`,
      });
    users.set(key, userId);
  });
  return (token) => users.get(digest(token));
}

/**
 * Parses `alice=TOKEN_A,bob=TOKEN_B` (the `CHATKEEP_MCP_TOKENS` format: the
 * user, `=`, the token; the first `=` separates them, so tokens may contain
 * `=`). Throws CK_CONFIG naming `field` for a malformed entry.
 */
export function parseTokenList(text: string, field = 'CHATKEEP_MCP_TOKENS'): StaticToken[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry, i) => {
      const at = entry.indexOf('=');
      if (at < 1 || at === entry.length - 1) {
        throw new ChatkeepError('CK_CONFIG', `${field}: entry ${i + 1} is not user=token`, {
          field,
        });
      }
      return { userId: entry.slice(0, at), token: entry.slice(at + 1) };
    });
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 9110 section 11.1). */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^bearer +(\S+) *$/i.exec(header ?? '');
  return match?.[1];
}
