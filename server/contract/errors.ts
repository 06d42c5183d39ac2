// The error envelope every /v1 and /api route answers with, and its codes.
import { z } from 'zod';

export const ErrorCode = z.enum([
  'INVALID_REQUEST',
  'INVALID_IMAGE',
  'UNAUTHORIZED',
  'SESSION_NOT_FOUND',
  'WORKSPACE_NOT_FOUND',
  'RUN_NOT_FOUND',
  'ALERT_NOT_FOUND',
  'SESSION_EXPIRED',
  'PAYLOAD_TOO_LARGE',
  'RESOURCE_EXHAUSTED',
  'COMMAND_TIMEOUT',
  'INTERNAL_ERROR',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorEnvelope = z.object({
  error_code: ErrorCode,
  message: z.string(),
  details: z.unknown().optional(),
});
export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;

/** The HTTP status each code is answered with. */
export const errorStatus: Record<ErrorCode, number> = {
  INVALID_REQUEST: 400,
  INVALID_IMAGE: 400,
  UNAUTHORIZED: 401,
  SESSION_NOT_FOUND: 404,
  WORKSPACE_NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  ALERT_NOT_FOUND: 404,
  SESSION_EXPIRED: 410,
  PAYLOAD_TOO_LARGE: 413,
  RESOURCE_EXHAUSTED: 429,
  COMMAND_TIMEOUT: 504,
  INTERNAL_ERROR: 500,
};

/** Error responses every authenticated route may give, for the OpenAPI document. */
export const commonErrorResponses = {
  400: ErrorEnvelope,
  401: ErrorEnvelope,
  500: ErrorEnvelope,
} as const;
