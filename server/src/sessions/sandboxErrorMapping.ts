// What a client hears when a session's sandbox refuses or fails an operation:
// the provider's SandboxError kinds as the API's error codes, and whether the
// failure ends the session (its sandbox is gone, or its runner broke the
// protocol and is not to be trusted again).
import { AppError } from '../errors';
import { SandboxError } from '../sandboxes/sandboxError';
import { SessionFileNotFound } from './sessionErrors';

export interface MappedSandboxError {
  error: Error;
  /** Set when the session must end as crashed, with this reason. */
  endsSession?: string;
}

export function mapSandboxError(e: unknown): MappedSandboxError {
  if (!(e instanceof SandboxError)) return { error: e as Error };
  switch (e.kind) {
    case 'PATH_OUTSIDE':
      return { error: new AppError('INVALID_REQUEST', `refused: ${e.message}`) };
    case 'NOT_FOUND':
      return { error: new SessionFileNotFound(`file not found: ${e.message}`) };
    case 'NOT_A_FILE':
      return { error: new AppError('INVALID_REQUEST', e.message) };
    case 'LIMIT':
      return { error: new AppError('RESOURCE_EXHAUSTED', e.message) };
    case 'NO_SPACE':
      return { error: new AppError('RESOURCE_EXHAUSTED', `the file is too large for the sandbox's limits: ${e.message}`) };
    case 'SANDBOX_GONE':
      return { error: new AppError('SESSION_EXPIRED', "the session's sandbox has exited"), endsSession: 'the sandbox exited unexpectedly' };
    case 'PROTOCOL':
      // The runner is compromised or broken: the session ends (its sandbox is already being destroyed).
      return {
        error: new AppError('SESSION_EXPIRED', `the session was ended: ${e.message}`, { reason: 'runner_protocol' }),
        endsSession: e.message,
      };
    default:
      return { error: new AppError('INTERNAL_ERROR', e.message) };
  }
}
