// The model gateway: the only way an agent reaches the model provider. It
// listens on a unix socket that run sandboxes get bound in (and that the
// in-process DeepAgent dials), takes a per-turn run token, and forwards
// /v1/responses and /v1/chat/completions upstream with the real key,
// streaming the answer back as it arrives and noting the tokens used.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { request } from 'undici';
import type { RunTokens } from './runTokens';
import { jsonUsageTap, sseUsageTap, type Usage } from './usageTap';

export interface UpstreamConfig {
  baseUrl?: string;
  apiKey?: string;
  model: string;
  idleTimeoutMs: number;
}

export interface ModelCall {
  runId: string;
  path: string;
  status: number;
  durationMs: number;
  usage?: Usage;
  error?: string;
}

export interface ModelGatewayOptions {
  socketPath: string;
  upstream: UpstreamConfig;
  tokens: RunTokens;
  onCall: (call: ModelCall) => void;
  logger: boolean | object;
}

const ROUTES = ['/v1/responses', '/v1/chat/completions'] as const;
// What the agent may tell the provider about the request; everything else (its token above all) stays here.
const FORWARDED_HEADERS = ['accept', 'openai-beta', 'user-agent', 'x-stainless-lang', 'session_id', 'conversation_id', 'originator'];

/** Why model-driven agents cannot run with this configuration, or undefined when they can. */
export function upstreamProblem(upstream: UpstreamConfig): string | undefined {
  if (!upstream.baseUrl)
    return 'no model provider is configured: set ASTRAFORGE_MODEL_BASE_URL (an OpenAI-compatible URL ending in /v1), ASTRAFORGE_MODEL_API_KEY and optionally ASTRAFORGE_MODEL, or "model": {"baseUrl", "apiKey", "model"} in the data folder\'s config.json';
  return undefined;
}

function openAiError(reply: FastifyReply, status: number, message: string, type: string) {
  return reply.code(status).send({ error: { message, type, code: type } });
}

function bearer(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1].trim();
}

export class ModelGateway {
  private app?: FastifyInstance;

  constructor(private readonly opts: ModelGatewayOptions) {}

  get socketPath(): string {
    return this.opts.socketPath;
  }

  async start(): Promise<void> {
    const app = Fastify({
      logger: this.opts.logger,
      bodyLimit: 64 * 1024 * 1024,
      logController: new LogController({ disableRequestLogging: true }),
      forceCloseConnections: true,
    });
    for (const path of ROUTES) app.post(path, (req, reply) => this.forward(req, reply, path));
    app.setNotFoundHandler((req, reply) =>
      openAiError(reply, 404, `the gateway serves ${ROUTES.join(' and ')}, not ${req.url}`, 'not_found'),
    );
    mkdirSync(dirname(this.opts.socketPath), { recursive: true, mode: 0o711 });
    rmSync(this.opts.socketPath, { force: true });
    await app.listen({ path: this.opts.socketPath });
    // Sandboxes run as their own unprivileged uids; the run token, not the file mode, is the lock.
    chmodSync(this.opts.socketPath, 0o666);
    this.app = app;
  }

  async stop(): Promise<void> {
    await this.app?.close();
  }

  private async forward(req: FastifyRequest, reply: FastifyReply, path: string): Promise<void> {
    const token = bearer(req);
    const runId = token ? this.opts.tokens.runOf(token) : undefined;
    if (!runId) return void openAiError(reply, 401, 'missing, unknown or expired run token', 'invalid_api_key');
    const { baseUrl, apiKey, model, idleTimeoutMs } = this.opts.upstream;
    if (!baseUrl) return void openAiError(reply, 503, 'no model provider is configured on the server', 'not_configured');
    const body = { ...((req.body as Record<string, unknown> | undefined) ?? {}) };
    if (typeof body.model !== 'string' || body.model === '') body.model = model;
    const streaming = body.stream === true;
    // Chat Completions only reports usage on a stream when asked to.
    if (streaming && path.endsWith('/chat/completions'))
      body.stream_options = { ...((body.stream_options as object | undefined) ?? {}), include_usage: true };

    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const name of FORWARDED_HEADERS) {
      const v = req.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    if (apiKey) {
      headers.authorization = `Bearer ${apiKey}`;
      if (new URL(baseUrl).hostname.endsWith('.azure.com')) headers['api-key'] = apiKey;
    }
    const started = performance.now();
    const call = new AbortController();
    const untrack = this.opts.tokens.track(runId, call);
    // The response closing before it finished means the agent hung up (or was killed).
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) call.abort(new Error('the agent went away'));
    });
    const report = (status: number, usage?: Usage, error?: string) =>
      this.opts.onCall({ runId, path, status, durationMs: Math.round(performance.now() - started), usage, error });

    let upstream: Awaited<ReturnType<typeof request>>;
    try {
      upstream = await request(`${baseUrl.replace(/\/+$/, '')}${path.slice('/v1'.length)}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: call.signal,
        headersTimeout: idleTimeoutMs,
        bodyTimeout: idleTimeoutMs,
      });
    } catch (e) {
      untrack();
      const message = `the model provider did not answer: ${(e as Error).message}`;
      report(502, undefined, message);
      return void openAiError(reply, 502, message, 'upstream_error');
    }

    reply.hijack();
    const res = reply.raw;
    const contentType = String(upstream.headers['content-type'] ?? 'application/json');
    res.writeHead(upstream.statusCode, { 'content-type': contentType, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    const tap = contentType.includes('text/event-stream') ? sseUsageTap() : jsonUsageTap();
    try {
      for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
        tap.write(chunk);
        res.write(chunk);
      }
      res.end();
      report(upstream.statusCode, tap.end(), upstream.statusCode >= 400 ? `the provider answered ${upstream.statusCode}` : undefined);
    } catch (e) {
      // A broken provider stream must look broken to the agent, not like a short answer.
      res.destroy();
      report(upstream.statusCode, tap.end(), `the model stream broke: ${(e as Error).message}`);
    } finally {
      untrack();
    }
  }
}
