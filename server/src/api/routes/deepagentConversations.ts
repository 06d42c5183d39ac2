// /api/deepagent/conversations/...: the toolkit API's DeepAgent
// conversations, over the same engine and sessions that runs use.
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  Conversation,
  ConversationMessageRequest,
  ConversationParams,
  ConversationReply,
  ToolkitError,
  ToolkitSessionRequest,
} from '@astraforge/contract/toolkitApi';
import { AppError } from '../../errors';
import type { Conversations } from '../../toolkit/conversations';
import { openSse } from '../sse';

export function conversationRoutes(conversations: Conversations, sseHeartbeatMs: number) {
  return async (app: FastifyInstance): Promise<void> => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    const tags = ['toolkit'];
    const errors = { 400: ToolkitError, 401: ToolkitError, 404: ToolkitError };
    const base = '/api/deepagent/conversations';

    r.post(
      `${base}/`,
      {
        schema: {
          summary: 'Start a DeepAgent conversation with its own sandbox',
          tags,
          body: ToolkitSessionRequest.optional().default({}),
          response: { 201: Conversation, ...errors },
        },
      },
      async (req, reply) => reply.code(201).send(await conversations.create(req.body ?? {})),
    );
    r.post(
      `${base}/:id/messages/`,
      {
        schema: {
          summary: 'Send a message; with stream: true the reply streams as SSE chunks {tokens, messages, tool_events}',
          tags,
          params: ConversationParams,
          body: ConversationMessageRequest,
          response: { 200: ConversationReply, ...errors },
        },
      },
      async (req, reply) => {
        const last = [...req.body.messages].reverse().find((m) => m.role === 'user');
        if (!last) throw new AppError('INVALID_REQUEST', 'messages must hold a user message');
        const id = req.params.id;
        if (!req.body.stream) {
          const ac = new AbortController();
          reply.raw.once('close', () => {
            if (!reply.raw.writableFinished) ac.abort(new Error('the client went away'));
          });
          const chunks = await conversations.send(id, last.content, ac.signal, () => undefined);
          return {
            conversation_id: id,
            messages: chunks.flatMap((c) => c.messages),
            tool_events: chunks.flatMap((c) => c.tool_events),
          };
        }
        // Checked before the stream opens, so that a bad id still gets a 404 {detail}.
        conversations.assertCanSend(id);
        const ac = new AbortController();
        const sse = openSse(reply, sseHeartbeatMs);
        sse.closed.addEventListener('abort', () => ac.abort(new Error('the client went away')));
        try {
          await conversations.send(id, last.content, ac.signal, (c) => sse.send(undefined, c));
          sse.send(undefined, { tokens: [], messages: [], tool_events: [], done: true });
        } catch (e) {
          sse.send(undefined, { tokens: [], messages: [], tool_events: [], error: (e as Error).message });
        }
        sse.end();
        return reply;
      },
    );
  };
}
