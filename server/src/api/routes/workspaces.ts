// /v1/workspaces: persistent workspaces that outlive sessions.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ErrorEnvelope } from '../../contract/errors';
import { OkResult, WorkspaceIdParams, WorkspaceList } from '../../contract/sandboxApi';
import { AppError } from '../../errors';
import type { SessionManager } from '../../sessions/sessionManager';
import type { WorkspaceStore } from '../../sessions/workspaceStore';

export function workspaceRoutes(sessions: SessionManager, workspaces: WorkspaceStore) {
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['sandbox'];
    r.get('/v1/workspaces', { schema: { summary: 'List persistent workspaces', tags, response: { 200: WorkspaceList } } }, async () => ({
      workspaces: workspaces.list().map((w) => {
        const counts = sessions.workspaceSessionCounts(w.id);
        return {
          id: w.id,
          created_at: w.created_at,
          size_bytes: w.size_bytes,
          size_mb: Math.round((w.size_bytes / 2 ** 20) * 100) / 100,
          session_count: counts.total,
          active_session_count: counts.active,
        };
      }),
    }));
    r.delete(
      '/v1/workspaces/:id',
      {
        schema: {
          summary: 'Delete a persistent workspace',
          tags,
          params: WorkspaceIdParams,
          response: { 200: OkResult, 400: ErrorEnvelope, 404: ErrorEnvelope },
        },
      },
      async (req) => {
        if (sessions.workspaceInUse(req.params.id)) {
          throw new AppError('INVALID_REQUEST', `workspace "${req.params.id}" is in use by a running session; destroy the session first`);
        }
        if (!workspaces.delete(req.params.id)) throw new AppError('WORKSPACE_NOT_FOUND', `no workspace "${req.params.id}"`);
        return { ok: true as const };
      },
    );
  };
}
