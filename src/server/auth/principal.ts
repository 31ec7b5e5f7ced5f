/** Who a request acts for, once its bearer token is verified. */
export interface Principal {
  readonly userId: string;
  readonly method: 'jwt' | 'api-key';
}
