/**
 * Typed errors of mlo's identity layer. Each message says what to do about it.
 */
import { EXIT_CODES, MloError } from '../core/errors';

export type AuthFailure =
  /** no token in MLO_TOKEN, none cached, or the cached one cannot be refreshed */
  | 'not-signed-in'
  /** the identity provider refused the credentials (client secret, password, code, refresh token) */
  | 'credentials-refused'
  /** the user declined, or the sign-in was aborted or timed out */
  | 'sign-in-aborted'
  /** a token failed verification: signature, issuer, audience, expiry or claims */
  | 'token-invalid'
  /** the identity provider answered something that is not valid OpenID Connect */
  | 'protocol';

/** Authentication failed. `failure` tells the kind; the message names the fix. */
export class AuthError extends MloError {
  readonly code = 'AUTH';
  readonly exitCode = EXIT_CODES.badInput;
  constructor(
    readonly failure: AuthFailure,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

export function isAuthError(err: unknown, failure?: AuthFailure): err is AuthError {
  return err instanceof AuthError && (failure === undefined || err.failure === failure);
}
