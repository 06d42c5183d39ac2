// The one stand-in the tests allow: an OpenAI-compatible model server that
// answers /v1/responses and /v1/chat/completions (streaming and not) from a
// script, and records every request it receives (headers included), so a
// test can drive the real agents and check what reached the "provider".
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type ScriptedTurn =
  /** An assistant message, streamed in a few deltas. */
  | { say: string }
  /** One tool call. */
  | { call: string; args: Record<string, unknown> }
  /** Starts streaming, then drops the connection. */
  | { failMidStream: true }
  /** Starts streaming, then sends nothing more. */
  | { hang: true }
  /** An HTTP error from the provider. */
  | { status: number; body: unknown };

export interface RecordedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  raw: string;
}

export interface ScriptedModel {
  /** Base URL ending in /v1. */
  baseUrl: string;
  requests: RecordedRequest[];
  /** Turns still to play; when empty the model says "done". */
  script: ScriptedTurn[];
  /** Resolves when a request arrives that plays a hanging turn. */
  hung: Promise<void>;
  close(): Promise<void>;
}

const USAGE = { input: 21, output: 7 };

export async function startScriptedModel(script: ScriptedTurn[]): Promise<ScriptedModel> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let markHung: () => void = () => undefined;
  const hung = new Promise<void>((r) => (markHung = r));
  let counter = 0;
  const model: ScriptedModel = {
    baseUrl: '',
    requests,
    script,
    hung,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (raw += d));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        /* recorded as is */
      }
      const path = (req.url ?? '').split('?')[0];
      requests.push({ path, headers: req.headers, body, raw });
      const turn: ScriptedTurn = model.script.shift() ?? { say: 'done' };
      const id = ++counter;
      if ('status' in turn) {
        res.writeHead(turn.status, { 'content-type': 'application/json' }).end(JSON.stringify(turn.body));
        return;
      }
      if ('hang' in turn) markHung();
      if (path.endsWith('/responses')) return responses(res, turn, id, body.stream === true);
      if (path.endsWith('/chat/completions')) return chat(res, turn, id, body.stream === true);
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${path}` } }));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  model.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return model;
}

function pieces(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += 8) out.push(text.slice(i, i + 8));
  return out;
}

function sse(res: ServerResponse, event: string | undefined, data: unknown): void {
  res.write(`${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
}

// --- Responses API (what Codex speaks) ---

function responses(res: ServerResponse, turn: ScriptedTurn, n: number, stream: boolean): void {
  const respId = `resp_${n}`;
  const item =
    'say' in turn
      ? {
          type: 'message',
          role: 'assistant',
          id: `msg_${n}`,
          status: 'completed',
          content: [{ type: 'output_text', text: turn.say, annotations: [] }],
        }
      : 'call' in turn
        ? {
            type: 'function_call',
            id: `fc_${n}`,
            call_id: `call_${n}`,
            name: turn.call,
            arguments: JSON.stringify(turn.args),
            status: 'completed',
          }
        : undefined;
  const usage = {
    input_tokens: USAGE.input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: USAGE.output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: USAGE.input + USAGE.output,
  };
  if (!stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: respId, object: 'response', status: 'completed', output: item ? [item] : [], usage }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, 'response.created', { type: 'response.created', response: { id: respId, status: 'in_progress', output: [] } });
  if ('failMidStream' in turn) return void setTimeout(() => res.socket?.destroy(), 20);
  if ('hang' in turn) return;
  if (!item) return;
  sse(res, 'response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { ...item, status: 'in_progress' } });
  if ('say' in turn)
    for (const delta of pieces(turn.say))
      sse(res, 'response.output_text.delta', {
        type: 'response.output_text.delta',
        item_id: item.id,
        output_index: 0,
        content_index: 0,
        delta,
      });
  sse(res, 'response.output_item.done', { type: 'response.output_item.done', output_index: 0, item });
  sse(res, 'response.completed', { type: 'response.completed', response: { id: respId, status: 'completed', output: [item], usage } });
  res.end();
}

// --- Chat Completions (what LangChain's ChatOpenAI speaks) ---

function chat(res: ServerResponse, turn: ScriptedTurn, n: number, stream: boolean): void {
  const base = { id: `chatcmpl_${n}`, created: Math.floor(Date.now() / 1000), model: 'scripted' };
  const usage = { prompt_tokens: USAGE.input, completion_tokens: USAGE.output, total_tokens: USAGE.input + USAGE.output };
  const toolCall =
    'call' in turn ? { id: `call_${n}`, type: 'function', function: { name: turn.call, arguments: JSON.stringify(turn.args) } } : undefined;
  if (!stream) {
    const message =
      'say' in turn
        ? { role: 'assistant', content: turn.say }
        : { role: 'assistant', content: null, tool_calls: toolCall ? [toolCall] : [] };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message, finish_reason: toolCall ? 'tool_calls' : 'stop' }],
        usage,
      }),
    );
    return;
  }
  const chunk = (delta: unknown, finish: string | null) => ({
    ...base,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, undefined, chunk({ role: 'assistant', content: '' }, null));
  if ('failMidStream' in turn) return void setTimeout(() => res.socket?.destroy(), 20);
  if ('hang' in turn) return;
  if ('say' in turn) for (const content of pieces(turn.say)) sse(res, undefined, chunk({ content }, null));
  if (toolCall) sse(res, undefined, chunk({ tool_calls: [{ index: 0, ...toolCall }] }, null));
  sse(res, undefined, chunk({}, toolCall ? 'tool_calls' : 'stop'));
  sse(res, undefined, { ...base, object: 'chat.completion.chunk', choices: [], usage });
  sse(res, undefined, '[DONE]');
  res.end();
}
