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

/** How {@link staticTokens} reports a bad list. */
export interface StaticTokensOptions {
  /**
   * Where the list came from, e.g. `CHATKEEP_MCP_TOKENS`. Errors then name it
   * and the entry (`CHATKEEP_MCP_TOKENS: entry 2 (user "bob"): …`), which is
   * what the person who set it can find; without it they name this
   * function's argument (`tokens[1].token: …`).
   */
  readonly source?: string;
}

/**
 * An {@link Authenticate} over a fixed list of tokens, for development and
 * single-tenant deployments. Tokens are looked up by their SHA-256, so the
 * lookup's timing says nothing about how much of a guess was right.
 * Throws CK_CONFIG for an empty list, a short token or a token given twice;
 * the message never contains a token.
 *
 * @example
 * const authenticate = staticTokens([{ userId: 'alice', token: process.env.ALICE_TOKEN! }]);
 * const fromEnv = staticTokens(parseTokenList(process.env.MY_TOKENS ?? ''), { source: 'MY_TOKENS' });
 */
export function staticTokens(
  tokens: readonly StaticToken[],
  options: StaticTokensOptions = {},
): Authenticate {
  const { source } = options;
  /** `problem` is said of `tokens[i].<part>`; `sentence` of the entry in `source`. */
  const refuse = (
    i: number,
    part: 'userId' | 'token',
    problem: string,
    sentence: string,
  ): never => {
    if (source === undefined) {
      throw new ChatkeepError('CK_CONFIG', `tokens[${i}].${part}: ${problem}`, {
        field: `tokens[${i}].${part}`,
      });
    }
    // The user id is named only once it is known to be a sane one.
    const user = part === 'token' ? ` (user "${tokens[i]!.userId}")` : '';
    throw new ChatkeepError('CK_CONFIG', `${source}: entry ${i + 1}${user}: ${sentence}`, {
      field: source,
      entry: i + 1,
    });
  };
  if (tokens.length === 0) {
    const field = source ?? 'tokens';
    throw new ChatkeepError(
      'CK_CONFIG',
      `${field}: at least one token is needed; no mode serves tasks without authentication`,
      { field },
    );
  }
  const users = new Map<string, string>();
  tokens.forEach(({ userId, token }, i) => {
    if (typeof userId !== 'string' || userId.trim() === '' || userId.length > 256) {
      refuse(
        i,
        'userId',
        'expected a user id',
        'expected a user id of 1 to 256 characters before "="',
      );
    }
    if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      refuse(
        i,
        'token',
        `expected at least ${MIN_TOKEN_LENGTH} characters without spaces`,
        `the token must have at least ${MIN_TOKEN_LENGTH} characters and no spaces (e.g. \`openssl rand -hex 16\`)`,
      );
    }
    const key = digest(token);
    if (users.has(key))
      refuse(i, 'token', 'the same token is given twice', 'the same token as an earlier entry');
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
