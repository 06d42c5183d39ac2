// /v1/sessions: create, list, inspect, stats, destroy.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { commonErrorResponses, ErrorEnvelope } from '@astraforge/contract/errors';
import { CreateSessionRequest, OkResult, SessionIdParams, SessionInfo, SessionList, SessionStats } from '@astraforge/contract/sandboxApi';
import type { SessionManager } from '../../sessions/sessionManager';

export function sessionRoutes(sessions: SessionManager) {
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['sandbox'];
    r.post(
      '/v1/sessions',
      {
        schema: {
          summary: 'Create a session',
          tags,
          body: CreateSessionRequest.optional().default({}),
          response: { 201: SessionInfo, 429: ErrorEnvelope, ...commonErrorResponses },
        },
      },
      async (req, reply) => reply.code(201).send(await sessions.create(req.body ?? {})),
    );
    r.get('/v1/sessions', { schema: { summary: 'List sessions', tags, response: { 200: SessionList } } }, async () => sessions.list());
    r.get(
      '/v1/sessions/:id',
      { schema: { summary: 'One session', tags, params: SessionIdParams, response: { 200: SessionInfo, 404: ErrorEnvelope } } },
      async (req) => sessions.get(req.params.id),
    );
    r.get(
      '/v1/sessions/:id/stats',
      {
        schema: {
          summary: "The sandbox's real memory and CPU use",
          tags,
          params: SessionIdParams,
          response: { 200: SessionStats, 404: ErrorEnvelope, 410: ErrorEnvelope },
        },
      },
      async (req) => sessions.stats(req.params.id),
    );
    r.delete(
      '/v1/sessions/:id',
      {
        schema: {
          summary: 'Destroy a session and every process in it',
          tags,
          params: SessionIdParams,
          response: { 200: OkResult, 404: ErrorEnvelope },
        },
      },
      async (req) => {
        await sessions.destroy(req.params.id);
        return { ok: true as const };
      },
    );
  };
}
