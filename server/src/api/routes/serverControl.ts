// /api/server: what this server is and whether it is busy, and stopping it
// (AstraForge: Stop Server; a newer extension replacing an older server).
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { commonErrorResponses } from '@astraforge/contract/errors';
import { ServerInfo, ShutdownRequest, ShutdownResult } from '@astraforge/contract/serverApi';

export interface ServerControl {
  info(): ServerInfo;
  /** Starts the stop (it completes after the reply went out). */
  stop(when: 'now' | 'idle'): ShutdownResult;
}

export function serverControlRoutes(control: ServerControl) {
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['server'];
    r.get(
      '/api/server',
      { schema: { summary: "The server's version, build and load", tags, response: { 200: ServerInfo, ...commonErrorResponses } } },
      async () => control.info(),
    );
    r.post(
      '/api/server/shutdown',
      {
        schema: {
          summary: 'Stop the server now, or once no run is active',
          tags,
          body: ShutdownRequest.optional(),
          response: { 202: ShutdownResult, ...commonErrorResponses },
        },
      },
      async (req, reply) => reply.code(202).send(control.stop(req.body?.when ?? 'now')),
    );
  };
}
