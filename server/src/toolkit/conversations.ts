// DeepAgent conversations for the toolkit API: a sandbox session plus a
// thread of the same DeepAgent engine that runs use. A message is one turn;
// its updates come back as the toolkit's chunks {tokens, messages, tool_events}.
import { randomUUID } from 'node:crypto';
import type { DeepAgentEngine } from '../agents/deepagent/deepAgentEngine';
import type { DeepAgentUpdate } from '../agents/deepagent/deepAgentStream';
import type { ConversationChunk, ToolkitSessionRequest } from '../contract/toolkitApi';
import { AppError } from '../errors';
import type { RunTokens } from '../gateway/runTokens';
import type { ToolkitSessions } from './toolkitSessions';

interface ConversationState {
  id: string;
  sessionId: string;
  busy: boolean;
}

export interface ConversationsOptions {
  sessions: ToolkitSessions;
  engine: DeepAgentEngine;
  tokens: RunTokens;
  model: string;
  /** Why the agent cannot run (no model provider), or undefined. */
  modelProblem: () => string | undefined;
  commandTimeoutMs: number;
}

export function chunkOf(u: DeepAgentUpdate): ConversationChunk {
  const chunk: ConversationChunk = { tokens: '', messages: [], tool_events: [] };
  switch (u.kind) {
    case 'token':
      chunk.tokens = u.text;
      break;
    case 'message':
      chunk.messages.push({ role: 'assistant', content: u.content });
      break;
    case 'tool_start':
      chunk.tool_events.push({ status: 'start', tool_name: u.name, tool_call_id: u.callId, arguments: u.args });
      break;
    case 'tool_result':
      chunk.tool_events.push({ status: 'result', tool_name: u.name, tool_call_id: u.callId, output: u.output });
      break;
    case 'todos':
      chunk.tool_events.push({ status: 'result', tool_name: 'write_todos', tool_call_id: '', output: JSON.stringify(u.items) });
      break;
  }
  return chunk;
}

export class Conversations {
  private readonly all = new Map<string, ConversationState>();

  constructor(private readonly opts: ConversationsOptions) {}

  async create(req: ToolkitSessionRequest) {
    const reason = this.opts.modelProblem();
    if (reason) throw new AppError('INVALID_REQUEST', `the DeepAgent is not available: ${reason}`);
    const session = await this.opts.sessions.create(req);
    const conv: ConversationState = { id: randomUUID(), sessionId: session.id, busy: false };
    this.all.set(conv.id, conv);
    return { conversation_id: conv.id, sandbox_session_id: session.id, status: 'ready' };
  }

  /** Throws unless the conversation exists, is idle and its sandbox is still there. */
  assertCanSend(id: string): ConversationState {
    const conv = this.all.get(id);
    if (!conv) throw new AppError('RUN_NOT_FOUND', `no conversation "${id}"`);
    if (conv.busy) throw new AppError('INVALID_REQUEST', `conversation "${id}" is still answering the previous message`);
    this.opts.sessions.heartbeat(conv.sessionId);
    return conv;
  }

  /**
   * One turn with the last user message. `onChunk` sees each update as it
   * happens; the turn's chunks are also returned for non-streaming callers.
   */
  async send(id: string, content: string, signal: AbortSignal, onChunk: (c: ConversationChunk) => void): Promise<ConversationChunk[]> {
    const conv = this.assertCanSend(id);
    conv.busy = true;
    // Tokens are keyed by conversation here, as by run elsewhere; each dies with its turn.
    const tokenKey = `conversation:${id}`;
    const token = this.opts.tokens.issue(tokenKey);
    const chunks: ConversationChunk[] = [];
    try {
      await this.opts.engine.turn({
        threadId: conv.id,
        sessionId: conv.sessionId,
        message: content,
        token,
        model: this.opts.model,
        signal,
        commandTimeoutMs: () => this.opts.commandTimeoutMs,
        onUpdate: (u) => {
          const c = chunkOf(u);
          chunks.push(c);
          onChunk(c);
        },
      });
      return chunks;
    } finally {
      this.opts.tokens.revoke(tokenKey);
      conv.busy = false;
    }
  }
}
