/** Who a request acts for, once its bearer token is verified. */
export interface Principal {
  readonly userId: string;
  readonly method: 'jwt' | 'api-key';
}

/**
 * A token that verified but cannot act for anyone: a JWT whose `sub` is no
 * user id this store accepts. The caller gets the same 401 as for any bad
 * token (answers never tell which check failed); `reason` is for the
 * operator's log, since a mis-mapped identity provider would otherwise
 * look like clients sending garbage.
 */
export interface UnusableToken {
  readonly unusable: string;
}
