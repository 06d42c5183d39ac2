// What the extension's client throws when the server refuses a request: the
// contract's error envelope as an Error, with the status and the error code
// that callers decide on (never the message text).
import { ErrorEnvelope } from '@astraforge/contract/errors';

export class ServerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServerError';
  }
}

/** The error an answer's status and body stand for: the envelope when it is one, else the status and the body's start. */
export function serverErrorOf(status: number, text: string): ServerError {
  try {
    const env = ErrorEnvelope.parse(JSON.parse(text));
    return new ServerError(status, env.error_code, env.message);
  } catch {
    return new ServerError(status, 'HTTP_ERROR', `the server answered ${status}: ${text.slice(0, 200)}`);
  }
}

/** A refusal that asking again will not change (4xx): streams stop resuming on it. */
export function isRefusal(e: unknown): e is ServerError {
  return e instanceof ServerError && e.status >= 400 && e.status < 500;
}
