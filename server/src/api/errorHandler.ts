// Turns every failure into the contract's envelope: AppErrors by their code,
// schema and parser failures as INVALID_REQUEST, oversized bodies as
// PAYLOAD_TOO_LARGE, anything else as INTERNAL_ERROR (logged, never leaked).
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { errorStatus, type ErrorEnvelope } from '@astraforge/contract/errors';
import { AppError } from '../errors';

export function toEnvelope(err: unknown): { status: number; body: ErrorEnvelope } {
  if (err instanceof AppError) {
    const body: ErrorEnvelope = { error_code: err.code, message: err.message };
    if (err.details !== undefined) body.details = err.details;
    return { status: errorStatus[err.code], body };
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issues = err.validation.map((v) => ({ path: v.instancePath || '/', message: v.message }));
    const where = err.validationContext ?? 'request';
    return {
      status: 400,
      body: {
        error_code: 'INVALID_REQUEST',
        message: `invalid ${where}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
        details: { issues },
      },
    };
  }
  const fe = err as FastifyError;
  if (fe.statusCode === 413 || fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || fe.code === 'FST_REQ_FILE_TOO_LARGE') {
    return { status: 413, body: { error_code: 'PAYLOAD_TOO_LARGE', message: fe.message } };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: 400, body: { error_code: 'INVALID_REQUEST', message: fe.message } };
  }
  return { status: 500, body: { error_code: 'INTERNAL_ERROR', message: 'internal error; see the server log' } };
}

/** The toolkit API's clients read `{detail}`, not the envelope. */
function speaksToolkit(url: string): boolean {
  return url.startsWith('/api/sandbox/') || url.startsWith('/api/deepagent/');
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toEnvelope(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    void reply
      .code(status)
      .type('application/json')
      .send(speaksToolkit(req.url) ? { detail: body.message } : body);
  });
  app.setNotFoundHandler((req, reply) => {
    const message = `no route ${req.method} ${req.url.split('?')[0]}`;
    void reply
      .code(404)
      .send(speaksToolkit(req.url) ? { detail: message } : ({ error_code: 'INVALID_REQUEST', message } satisfies ErrorEnvelope));
  });
}
