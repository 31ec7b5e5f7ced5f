import { SignJWT } from 'jose';

/**
 * Bearer tokens for the seeded users: HS256 JWTs with `sub` = the user, as an
 * identity provider would issue them (the server verifies a token's signature
 * once and then remembers it for up to 30 s, never past its exp). Valid for
 * two hours, longer than any run.
 */
export async function jwtsFor(
  users: readonly string[],
  secret: string,
): Promise<Map<string, string>> {
  const key = new TextEncoder().encode(secret);
  const tokens = new Map<string, string>();
  for (const user of users) {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user)
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(key);
    tokens.set(user, token);
  }
  return tokens;
}
