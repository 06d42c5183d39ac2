// /v1/sessions/:id/exec and exec/stream: run a command in the session's stateful shell.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { commonErrorResponses, ErrorEnvelope } from '@astraforge/contract/errors';
import { ExecChunkEvent, ExecDoneEvent, ExecErrorEvent, ExecRequest, ExecResult, SessionIdParams } from '@astraforge/contract/sandboxApi';
import { AppError } from '../../errors';
import type { SessionManager } from '../../sessions/sessionManager';
import { toEnvelope } from '../errorHandler';
import { openSse } from '../sse';

export function execRoutes(sessions: SessionManager, heartbeatMs: number) {
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['sandbox'];
    r.post(
      '/v1/sessions/:id/exec',
      {
        schema: {
          summary: 'Run a command and wait for its result',
          description: 'cd and exported variables persist between calls; a timeout kills the whole process tree (504).',
          tags,
          params: SessionIdParams,
          body: ExecRequest,
          response: { 200: ExecResult, 404: ErrorEnvelope, 410: ErrorEnvelope, 504: ErrorEnvelope, ...commonErrorResponses },
        },
      },
      async (req) => {
        const out = await sessions.exec(req.params.id, req.body.cmd, { timeoutMs: req.body.timeout_ms });
        const result = { exit_code: out.exitCode, cwd: out.cwd, output: out.stdout, truncated: out.truncated, duration_ms: out.durationMs };
        if (out.timedOut) {
          throw new AppError(
            'COMMAND_TIMEOUT',
            `the command ran past its ${req.body.timeout_ms ?? 'default'} ms timeout and was killed with its process tree`,
            result,
          );
        }
        if (out.notice) result.output += `\n[astraforge] ${out.notice}\n`;
        return result;
      },
    );

    r.post(
      '/v1/sessions/:id/exec/stream',
      {
        schema: {
          summary: 'Run a command and stream its output (SSE)',
          description: 'Events: `chunk` {chunk, timestamp}, then `done` {exit_code, cwd, duration_ms} or `error` {error}.',
          tags,
          params: SessionIdParams,
          body: ExecRequest,
          response: {
            200: z.string().describe(`text/event-stream of ${JSON.stringify(Object.keys(ExecChunkEvent.shape))} chunks`),
            404: ErrorEnvelope,
            410: ErrorEnvelope,
            ...commonErrorResponses,
          },
        },
      },
      async (req, reply) => {
        sessions.assertUsable(req.params.id); // answer 404 or 410 as JSON before the stream opens
        const sse = openSse(reply, heartbeatMs);
        try {
          const out = await sessions.exec(req.params.id, req.body.cmd, {
            timeoutMs: req.body.timeout_ms,
            signal: sse.closed,
            onOutput: (_stream, text) => sse.send('chunk', { chunk: text, timestamp: Date.now() } satisfies z.infer<typeof ExecChunkEvent>),
          });
          if (out.notice) sse.send('chunk', { chunk: `\n[astraforge] ${out.notice}\n`, timestamp: Date.now() });
          if (out.timedOut) {
            sse.send('error', { error: 'command timed out; its process tree was killed', error_code: 'COMMAND_TIMEOUT' } satisfies z.infer<
              typeof ExecErrorEvent
            >);
          } else {
            sse.send('done', {
              exit_code: out.exitCode,
              cwd: out.cwd,
              duration_ms: out.durationMs,
              truncated: out.truncated,
            } satisfies z.infer<typeof ExecDoneEvent>);
          }
        } catch (e) {
          const { body } = toEnvelope(e);
          sse.send('error', { error: body.message, error_code: body.error_code });
        } finally {
          sse.end();
        }
      },
    );
  };
}
