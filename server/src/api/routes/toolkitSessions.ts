// /api/sandbox/sessions/...: the toolkit API's sandbox sessions (the
// astraforge-toolkit Python client's DeepAgentClient and SandboxBackend), as
// upstream's SandboxSessionViewSet answers. Errors are {detail}.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ToolkitContentQuery,
  ToolkitError,
  ToolkitFileWritten,
  ToolkitHeartbeat,
  ToolkitPathQuery,
  ToolkitSession,
  ToolkitSessionParams,
  ToolkitSessionRequest,
  ToolkitShellRequest,
  ToolkitShellResult,
  ToolkitUploadRequest,
} from '@astraforge/contract/toolkitApi';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { AppError } from '../../errors';
import { ToolkitSandbox } from '../../toolkit/toolkitSandbox';
import type { ToolkitSessions } from '../../toolkit/toolkitSessions';
import { spoolToFile, type UploadSpool } from '../uploadSpool';
import { contentDisposition } from '../contentDisposition';
import { toolkitArtifactRoutes } from './toolkitArtifacts';
import { checkedWrite, writeBodyLimit } from '../fileTransfer';

export interface ToolkitFileLimits {
  maxFileBytes: number;
}

const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

export function toolkitSessionRoutes(sessions: ToolkitSessions, limits: ToolkitFileLimits, spool: UploadSpool) {
  const sandbox = new ToolkitSandbox(sessions, limits.maxFileBytes);
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['toolkit'];
    const errors = { 400: ToolkitError, 401: ToolkitError, 404: ToolkitError, 410: ToolkitError, 413: ToolkitError };
    const base = '/api/sandbox/sessions';
    const params = ToolkitSessionParams;
    // files/upload/ takes the file itself as the body: left a stream here, spooled to disk by the route.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

    r.post(
      `${base}/`,
      {
        schema: {
          summary: 'Create a sandbox session (201), or start again the one named by `id` (200)',
          tags,
          body: ToolkitSessionRequest.optional().default({}),
          response: { 200: ToolkitSession, 201: ToolkitSession, ...errors },
        },
      },
      async (req, reply) => {
        const { session, created } = await sessions.create(req.body ?? {});
        if (created) void reply.header('location', session.id);
        return reply.code(created ? 201 : 200).send(session);
      },
    );
    r.get(`${base}/`, { schema: { summary: 'List sandbox sessions', tags, response: { 200: ToolkitSession.array() } } }, async () =>
      sessions.list(),
    );
    r.get(
      `${base}/:id/`,
      { schema: { summary: 'One sandbox session (stopped ones too)', tags, params, response: { 200: ToolkitSession, ...errors } } },
      async (req) => sessions.get(req.params.id),
    );
    const noContent = { 204: z.null(), ...errors };
    r.post(
      `${base}/:id/stop/`,
      { schema: { summary: 'Stop the sandbox; the files stay for the next start', tags, params, response: noContent } },
      async (req, reply) => {
        await sessions.stop(req.params.id);
        return reply.code(204).send(null);
      },
    );
    r.delete(
      `${base}/:id/`,
      {
        schema: {
          summary: 'Stop a running session; forget a stopped one with its files, snapshots and artifacts',
          tags,
          params,
          response: noContent,
        },
      },
      async (req, reply) => {
        await sessions.delete(req.params.id);
        return reply.code(204).send(null);
      },
    );
    r.post(
      `${base}/:id/heartbeat/`,
      { schema: { summary: "Extend a session's idle timeout", tags, params, response: { 200: ToolkitHeartbeat, ...errors } } },
      async (req) => sessions.heartbeat(req.params.id),
    );
    for (const verb of ['shell', 'exec']) {
      r.post(
        `${base}/:id/${verb}/`,
        {
          schema: {
            summary: `Run a command from /workspace or cwd (${verb === 'exec' ? 'alias of shell' : 'stdout and stderr apart'})`,
            tags,
            params,
            body: ToolkitShellRequest,
            response: { 200: ToolkitShellResult, ...errors },
          },
        },
        async (req) => sandbox.shell(req.params.id, req.body),
      );
    }
    r.post(
      `${base}/:id/upload/`,
      {
        bodyLimit: writeBodyLimit(limits.maxFileBytes),
        schema: {
          summary: 'Write a file (utf-8 or base64 text)',
          tags,
          params,
          body: ToolkitUploadRequest,
          response: { 200: ToolkitFileWritten, ...errors },
        },
      },
      async (req) => {
        const base64 = req.body.encoding === 'base64';
        if (base64 && !BASE64.test(req.body.content)) throw new AppError('INVALID_REQUEST', 'Invalid base64 content');
        const data = checkedWrite(Buffer.from(req.body.content, base64 ? 'base64' : 'utf8'), limits.maxFileBytes);
        return sandbox.write(req.params.id, req.body.path, data);
      },
    );
    r.post(
      `${base}/:id/files/upload/`,
      {
        schema: {
          summary: 'Write a file from the raw request body',
          tags,
          params,
          querystring: ToolkitPathQuery,
          response: { 200: ToolkitFileWritten, ...errors },
        },
      },
      async (req) => {
        const body = req.body as Readable | string | undefined;
        if (body === undefined || typeof body === 'string') return sandbox.write(req.params.id, req.query.path, Buffer.from(body ?? ''));
        return spool.withFolder(async (folder) => {
          const file = join(folder, 'body');
          const size = await spoolToFile(body, file, limits.maxFileBytes, req.query.path);
          return sandbox.writeFromHost(req.params.id, req.query.path, file, size);
        });
      },
    );
    r.get(
      `${base}/:id/files/content/`,
      // No response schema: the 200 body is the file's bytes (application/octet-stream).
      { schema: { summary: "A file's bytes, as an attachment", tags, params, querystring: ToolkitContentQuery } },
      async (req, reply) => {
        const file = await sandbox.read(req.params.id, req.query.path);
        const name = req.query.filename || file.path.split('/').pop() || 'download';
        return reply.type('application/octet-stream').header('content-disposition', contentDisposition(name)).send(file.content);
      },
    );
    await app.register(toolkitArtifactRoutes(sessions, sandbox));
  };
}
