// Assembles the HTTP app: framework, validation, auth, errors, routes and
// the OpenAPI document generated from the same zod schemas.
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { RunService } from '../runs/runService';
import type { SessionManager } from '../sessions/sessionManager';
import type { SnapshotStore } from '../snapshots/snapshotStore';
import type { WorkspaceStore } from '../sessions/workspaceStore';
import type { Conversations } from '../toolkit/conversations';
import type { ToolkitSessions } from '../toolkit/toolkitSessions';
import { conversationRoutes } from './routes/deepagentConversations';
import { toolkitSessionRoutes } from './routes/toolkitSessions';
import { registerAuth } from './auth';
import { registerErrorHandling } from './errorHandler';
import { execRoutes } from './routes/exec';
import { fileRoutes } from './routes/files';
import { healthRoutes } from './routes/health';
import { openapiRoutes, openapiTransformObject } from './routes/openapi';
import { runRoutes } from './routes/runs';
import { serverControlRoutes, type ServerControl } from './routes/serverControl';
import { sessionRoutes } from './routes/sessions';
import { workspaceRoutes } from './routes/workspaces';
import type { UploadSpool } from './uploadSpool';

export interface AppDeps {
  /** The server's own lifecycle: its info and stop routes, and the request count of its idle timeout. */
  lifecycle: ServerControl & { attach(app: FastifyInstance): void };
  apiKey: string;
  sessions: SessionManager;
  workspaces: WorkspaceStore;
  runs: RunService;
  snapshots: SnapshotStore;
  maxFileBytes: number;
  defaultReadBytes: number;
  /** Where uploads are held on their way into a sandbox. */
  uploads: UploadSpool;
  logger: boolean | object;
  sseHeartbeatMs: number;
  toolkitSessions: ToolkitSessions;
  conversations: Conversations;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger,
    bodyLimit: 2 * 1024 * 1024,
    // Per-request lines would dominate the log on an exec-heavy workload; services log what matters.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    // The toolkit clients call paths with a trailing slash (Django style); either form works.
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  // SDK clients (Sandkasten's among them) send Content-Type: application/json on
  // bodiless DELETEs too; an empty body means "no body", not a JSON error.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') return done(null, undefined);
    defaultJson(req, body.toString(), done);
  });
  registerAuth(app, deps.apiKey);
  await app.register(multipart, { limits: { fileSize: deps.maxFileBytes } });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'AstraForge server',
        version: '0.1.0',
        description: 'Sandbox API (Sandkasten-compatible), run API, and the AstraForge toolkit API.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' } },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: openapiTransformObject,
  });
  deps.lifecycle.attach(app);
  await app.register(healthRoutes);
  await app.register(serverControlRoutes(deps.lifecycle));
  await app.register(sessionRoutes(deps.sessions));
  await app.register(execRoutes(deps.sessions, deps.sseHeartbeatMs));
  await app.register(fileRoutes(deps.sessions, { maxFileBytes: deps.maxFileBytes, defaultReadBytes: deps.defaultReadBytes }, deps.uploads));
  await app.register(
    workspaceRoutes(
      deps.sessions,
      deps.workspaces,
      { maxFileBytes: deps.maxFileBytes, defaultReadBytes: deps.defaultReadBytes },
      deps.uploads,
    ),
  );
  await app.register(runRoutes(deps.runs, deps.snapshots, deps.sseHeartbeatMs));
  await app.register(toolkitSessionRoutes(deps.toolkitSessions, { maxFileBytes: deps.maxFileBytes }, deps.uploads));
  await app.register(conversationRoutes(deps.conversations, deps.sseHeartbeatMs));
  await app.register(openapiRoutes);
  return app;
}
