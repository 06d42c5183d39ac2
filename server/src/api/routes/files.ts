// /v1/sessions/:id/fs/*: files inside /workspace, read and written from
// inside the sandbox (see af-runner), so symlinks cannot lead to host files.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

import { commonErrorResponses, ErrorEnvelope } from '@astraforge/contract/errors';
import { FsReadQuery, FsReadResult, FsWriteRequest, OkResult, SessionIdParams, UploadResult } from '@astraforge/contract/sandboxApi';
import type { SessionManager } from '../../sessions/sessionManager';
import { bytesOfWrite, readAnswer, readCap, writeBodyLimit, type FileLimits } from '../fileTransfer';
import { spoolMultipartUpload } from '../multipartUpload';
import type { UploadSpool } from '../uploadSpool';

export function fileRoutes(sessions: SessionManager, limits: FileLimits, spool: UploadSpool) {
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['sandbox'];
    const errors = { 404: ErrorEnvelope, 410: ErrorEnvelope, 413: ErrorEnvelope, ...commonErrorResponses };

    r.post(
      '/v1/sessions/:id/fs/write',
      {
        bodyLimit: writeBodyLimit(limits.maxFileBytes),
        schema: {
          summary: 'Write a file (text or base64)',
          tags,
          params: SessionIdParams,
          body: FsWriteRequest,
          response: { 200: OkResult, ...errors },
        },
      },
      async (req) => {
        await sessions.writeFile(req.params.id, req.body.path, bytesOfWrite(req.body, limits.maxFileBytes));
        return { ok: true as const };
      },
    );

    r.get(
      '/v1/sessions/:id/fs/read',
      {
        schema: {
          summary: 'Read a file',
          tags,
          params: SessionIdParams,
          querystring: FsReadQuery,
          response: { 200: FsReadResult, ...errors },
        },
      },
      async (req) => {
        return readAnswer(await sessions.readFile(req.params.id, req.query.path, readCap(req.query.max_bytes, limits)));
      },
    );

    r.post(
      '/v1/sessions/:id/fs/upload',
      {
        schema: {
          summary: 'Upload files (multipart: `file` or `files`, optional `path` folder)',
          tags,
          params: SessionIdParams,
          consumes: ['multipart/form-data'],
          response: { 200: UploadResult, ...errors },
        },
      },
      async (req) => {
        sessions.assertUsable(req.params.id);
        return spool.withFolder(async (folder) => {
          const { files } = await spoolMultipartUpload(req, folder, limits.maxFileBytes);
          const paths: string[] = [];
          // One file at a time, each copied from its spool file as the runner's pipe drains (1 MiB at a time).
          for (const f of files) paths.push(await sessions.writeFileFromHost(req.params.id, f.path, f.hostFile));
          return { ok: true as const, paths };
        });
      },
    );
  };
}
