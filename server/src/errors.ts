// The one error type services throw; the API turns it into the envelope.
import type { ErrorCode } from '@astraforge/contract/errors';

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'AppError';
  }
}
