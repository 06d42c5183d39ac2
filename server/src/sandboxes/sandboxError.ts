// Errors raised by sandbox providers, in terms the session layer maps to API codes.
export type SandboxErrorKind =
  | 'PATH_OUTSIDE'
  | 'NOT_FOUND'
  | 'NOT_A_FILE'
  | 'LIMIT'
  | 'NO_SPACE'
  | 'IO'
  | 'SANDBOX_GONE'
  | 'START_FAILED'
  | 'INVALID_IMAGE'
  /** The runner sent something malformed or oversized: the session is ended, the server is not. */
  | 'PROTOCOL';

export class SandboxError extends Error {
  constructor(
    readonly kind: SandboxErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}
