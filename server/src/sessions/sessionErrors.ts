// Session errors that callers decide on, as types rather than sentences.
import { AppError } from '../errors';

/** No file at the path in the session's workspace. The API answers 400 with details.reason "not_found". */
export class SessionFileNotFound extends AppError {
  constructor(message: string) {
    super('INVALID_REQUEST', message, { reason: 'not_found' });
  }
}
