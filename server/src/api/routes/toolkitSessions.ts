// /api/sandbox/sessions/...: the toolkit API's sandbox sessions (the
// astraforge-toolkit Python client's DeepAgentClient and SandboxBackend),
// thin routes over the server's own sessions. Errors are {detail}.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
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
} from '../../contract/toolkitApi';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { AppError } from '../../errors';
import type { ToolkitSessions } from '../../toolkit/toolkitSessions';
import { spoolToFile, type UploadSpool } from '../uploadSpool';

export interface ToolkitFileLimits {
  maxFileBytes: number;
}

export function toolkitSessionRoutes(sessions: ToolkitSessions, limits: ToolkitFileLimits, spool: UploadSpool) {
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['toolkit'];
    const errors = { 400: ToolkitError, 401: ToolkitError, 404: ToolkitError, 410: ToolkitError, 413: ToolkitError };
    const base = '/api/sandbox/sessions';
    // files/upload/ takes the file itself as the body: left a stream here, spooled to disk by the route.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

    r.post(
      `${base}/`,
      {
        schema: {
          summary: 'Create (or reuse) a sandbox session',
          tags,
          body: ToolkitSessionRequest.optional().default({}),
          response: { 201: ToolkitSession, ...errors },
        },
      },
      async (req, reply) => reply.code(201).send(await sessions.create(req.body ?? {})),
    );
    r.get(`${base}/`, { schema: { summary: 'List sandbox sessions', tags, response: { 200: ToolkitSession.array() } } }, async () =>
      sessions.list(),
    );
    r.get(
      `${base}/:id/`,
      { schema: { summary: 'One sandbox session', tags, params: ToolkitSessionParams, response: { 200: ToolkitSession, ...errors } } },
      async (req) => sessions.get(req.params.id),
    );
    for (const path of [`${base}/:id/`, `${base}/:id/stop/`]) {
      const method = path.endsWith('stop/') ? r.post.bind(r) : r.delete.bind(r);
      method(
        path,
        {
          schema: {
            summary: 'End a sandbox session and every process in it',
            tags,
            params: ToolkitSessionParams,
            response: { 204: z.null(), ...errors },
          },
        },
        async (req, reply) => {
          await sessions.destroy((req.params as { id: string }).id);
          return reply.code(204).send(null);
        },
      );
    }
    r.post(
      `${base}/:id/heartbeat/`,
      {
        schema: {
          summary: "Extend a session's idle timeout",
          tags,
          params: ToolkitSessionParams,
          response: { 200: ToolkitHeartbeat, ...errors },
        },
      },
      async (req) => sessions.heartbeat(req.params.id),
    );
    for (const verb of ['shell', 'exec']) {
      r.post(
        `${base}/:id/${verb}/`,
        {
          schema: {
            summary: `Run a command (${verb === 'exec' ? 'alias of shell' : 'stdout and stderr apart'})`,
            tags,
            params: ToolkitSessionParams,
            body: ToolkitShellRequest,
            response: { 200: ToolkitShellResult, ...errors },
          },
        },
        async (req) => sessions.shell(req.params.id, req.body.command, req.body.cwd, req.body.timeout_sec),
      );
    }
    r.post(
      `${base}/:id/upload/`,
      {
        bodyLimit: Math.ceil(limits.maxFileBytes * 1.4) + 64 * 1024,
        schema: {
          summary: 'Write a file (utf-8 or base64 text)',
          tags,
          params: ToolkitSessionParams,
          body: ToolkitUploadRequest,
          response: { 200: ToolkitFileWritten, ...errors },
        },
      },
      async (req) => {
        const data = Buffer.from(req.body.content, req.body.encoding === 'base64' ? 'base64' : 'utf8');
        if (data.length > limits.maxFileBytes) throw new AppError('PAYLOAD_TOO_LARGE', `files are limited to ${limits.maxFileBytes} bytes`);
        return sessions.write(req.params.id, req.body.path, data);
      },
    );
    r.post(
      `${base}/:id/files/upload/`,
      {
        schema: {
          summary: 'Write a file from the raw request body',
          tags,
          params: ToolkitSessionParams,
          querystring: ToolkitPathQuery,
          response: { 200: ToolkitFileWritten, ...errors },
        },
      },
      async (req) => {
        const body = req.body as Readable | string | undefined;
        if (body === undefined || typeof body === 'string') return sessions.write(req.params.id, req.query.path, Buffer.from(body ?? ''));
        return spool.withFolder(async (folder) => {
          const file = join(folder, 'body');
          const size = await spoolToFile(body, file, limits.maxFileBytes, req.query.path);
          return sessions.writeFromHost(req.params.id, req.query.path, file, size);
        });
      },
    );
    r.get(
      `${base}/:id/files/content/`,
      // No response schema: the 200 body is the file's bytes (application/octet-stream).
      { schema: { summary: "A file's bytes", tags, params: ToolkitSessionParams, querystring: ToolkitPathQuery } },
      async (req, reply) =>
        reply.type('application/octet-stream').send(await sessions.read(req.params.id, req.query.path, limits.maxFileBytes)),
    );
  };
}
