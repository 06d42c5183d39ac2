// Why a snapshot was refused, with the envelope code the API answers with:
// a malformed or hostile archive is INVALID_REQUEST (400), one over a limit
// PAYLOAD_TOO_LARGE (413).
import type { ErrorCode } from '@astraforge/contract/errors';

export class SnapshotError extends Error {
  readonly code: ErrorCode = 'INVALID_REQUEST';

  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'SnapshotError';
  }
}

export class SnapshotTooLarge extends SnapshotError {
  override readonly code: ErrorCode = 'PAYLOAD_TOO_LARGE';

  constructor(
    message: string,
    readonly limit: string,
  ) {
    super(message, { limit });
    this.name = 'SnapshotTooLarge';
  }
}
