// /v1/workspaces: persistent workspaces that outlive sessions, and their
// files (Sandkasten's newer daemons), with the same path rules as sessions'
// files: inside /workspace, no "..", links that lead out refused.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { commonErrorResponses, ErrorEnvelope } from '@astraforge/contract/errors';
import {
  FsReadQuery,
  FsReadResult,
  FsWriteRequest,
  OkResult,
  UploadResult,
  WorkspaceIdParams,
  WorkspaceList,
} from '@astraforge/contract/sandboxApi';
import { WorkspaceEntries, WorkspaceListQuery } from '@astraforge/contract/workspaceFiles';
import { AppError } from '../../errors';
import type { SessionManager } from '../../sessions/sessionManager';
import { WorkspaceFiles } from '../../sessions/workspaceFiles';
import type { WorkspaceStore } from '../../sessions/workspaceStore';
import { bytesOfWrite, readAnswer, readCap, writeBodyLimit, type FileLimits } from '../fileTransfer';
import { spoolMultipartUpload } from '../multipartUpload';
import type { UploadSpool } from '../uploadSpool';

export function workspaceRoutes(sessions: SessionManager, workspaces: WorkspaceStore, limits: FileLimits, spool: UploadSpool) {
  const files = new WorkspaceFiles(sessions, workspaces);
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['sandbox'];
    const errors = { 404: ErrorEnvelope, 410: ErrorEnvelope, 413: ErrorEnvelope, ...commonErrorResponses };
    const params = WorkspaceIdParams;
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
          params,
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

    r.post(
      '/v1/workspaces/:id/fs/write',
      {
        bodyLimit: writeBodyLimit(limits.maxFileBytes),
        schema: {
          summary: 'Write a file into a workspace (text or base64); creates the workspace if needed',
          tags,
          params,
          body: FsWriteRequest,
          response: { 200: OkResult, ...errors },
        },
      },
      async (req) => {
        await files.write(req.params.id, req.body.path, bytesOfWrite(req.body, limits.maxFileBytes));
        return { ok: true as const };
      },
    );
    r.get(
      '/v1/workspaces/:id/fs/read',
      {
        schema: {
          summary: 'Read a file of a workspace',
          tags,
          params,
          querystring: FsReadQuery,
          response: { 200: FsReadResult, ...errors },
        },
      },
      async (req) => {
        return readAnswer(await files.read(req.params.id, req.query.path, readCap(req.query.max_bytes, limits)));
      },
    );
    r.get(
      '/v1/workspaces/:id/fs',
      {
        schema: {
          summary: "A workspace folder's entries (`path`, the root by default)",
          tags,
          params,
          querystring: WorkspaceListQuery,
          response: { 200: WorkspaceEntries, ...errors },
        },
      },
      async (req) => {
        const { entries, truncated } = await files.list(req.params.id, req.query.path);
        return truncated ? { entries, truncated } : { entries };
      },
    );
    r.post(
      '/v1/workspaces/:id/fs/upload',
      {
        schema: {
          summary: 'Upload files into a workspace (multipart: `file` or `files`, optional `path` folder)',
          tags,
          params,
          consumes: ['multipart/form-data'],
          response: { 200: UploadResult, ...errors },
        },
      },
      async (req) => {
        return spool.withFolder(async (folder) => {
          const upload = await spoolMultipartUpload(req, folder, limits.maxFileBytes);
          const paths = await files.writeFromHost(req.params.id, upload.files);
          return { ok: true as const, paths };
        });
      },
    );
  };
}
