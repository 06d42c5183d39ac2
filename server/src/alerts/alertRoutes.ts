// The alert routes: the trackers' webhooks under /api/hooks (outside the API
// key: each checks its own signature or token before anything is parsed or
// stored), and the alerts and deliveries under /api/alerts for clients.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ErrorEnvelope } from '@astraforge/contract/errors';
import {
  Alert,
  AlertDeliveryList,
  AlertIdParams,
  AlertList,
  AlertListQuery,
  GlitchtipHookParams,
  HookAnswer,
} from '@astraforge/contract/alertsApi';
import { AppError } from '../errors';
import type { AlertsConfig } from './alertsConfig';
import type { AlertIntake } from './intake/alertIntake';
import { secretMatches, signatureMatches, staleTimestampProblem } from './intake/hookSignature';
import {
  MalformedPayload,
  parseGlitchtipWebhook,
  parseSentryServiceHook,
  parseSentryWebhook,
  type ParsedDelivery,
} from './intake/hookPayloads';
import { routeFor } from './pipeline/projectRoutes';
import type { AlertStore } from './store/alertStore';
import type { DeliveryLog } from './store/deliveryLog';

export interface AlertRouteDeps {
  config: AlertsConfig;
  intake: AlertIntake;
  store: AlertStore;
  deliveries: DeliveryLog;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

export function alertRoutes(deps: AlertRouteDeps) {
  return async (app: FastifyInstance): Promise<void> => {
    // Signatures are over the bytes as sent: the body reaches the handlers unparsed.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    const r = app.withTypeProvider<ZodTypeProvider>();
    const hookResponses = { 200: HookAnswer, 202: HookAnswer, 400: ErrorEnvelope, 401: ErrorEnvelope };
    const refuse = (req: FastifyRequest, source: string, reason: string): never => {
      deps.log({ source, ip: req.ip, reason }, 'webhook refused');
      throw new AppError('UNAUTHORIZED', reason);
    };

    r.post(
      '/api/hooks/sentry',
      {
        schema: {
          summary: "Sentry's integration-platform webhooks and per-project service hooks",
          description:
            "Authenticated by Sentry-Hook-Signature (HMAC-SHA256 of the body with the client secret) and a fresh Sentry-Hook-Timestamp, or for service hooks by X-ServiceHook-Signature with the project's hook secret. No API key.",
          tags: ['alerts'],
          security: [],
          response: hookResponses,
        },
      },
      async (req, reply) => {
        const raw = rawBody(req.body);
        const now = Date.now();
        let parsed: ParsedDelivery;
        let resource: string;
        if (header(req, 'x-servicehook-signature') !== undefined) {
          const project = serviceHookProject(deps.config, raw, header(req, 'x-servicehook-signature'));
          if (!project) refuse(req, 'sentry', "the service hook signature matches no project's secret");
          const stale = staleTimestampProblem(header(req, 'x-servicehook-timestamp'), now, deps.config.sentry.maxAgeSeconds);
          if (stale) refuse(req, 'sentry', stale);
          parsed = parse(() => parseSentryServiceHook(json(raw)));
          if (parsed.kind === 'alerts' && parsed.alerts.some((a) => routeFor(deps.config, a.project)?.key !== project))
            refuse(req, 'sentry', `the service hook of project "${project}" sent an event of another project`);
          resource = 'service_hook';
        } else {
          const secret = deps.config.sentry.clientSecret;
          if (!secret) refuse(req, 'sentry', 'Sentry webhooks are not configured on this server (alerts.sentry.clientSecret)');
          if (!signatureMatches(secret!, raw, header(req, 'sentry-hook-signature')))
            refuse(req, 'sentry', 'missing or wrong Sentry-Hook-Signature');
          const stale = staleTimestampProblem(header(req, 'sentry-hook-timestamp'), now, deps.config.sentry.maxAgeSeconds);
          if (stale) refuse(req, 'sentry', stale);
          resource = header(req, 'sentry-hook-resource') ?? '';
          if (!resource) throw new AppError('INVALID_REQUEST', 'the Sentry-Hook-Resource header is missing');
          parsed = parse(() => parseSentryWebhook(resource, json(raw)));
        }
        const answer = deps.intake.accept({ source: 'sentry', resource, requestId: header(req, 'request-id') }, parsed);
        return reply.code(answer.outcome === 'queued' ? 202 : 200).send(answer);
      },
    );

    r.post(
      '/api/hooks/glitchtip/:token',
      {
        schema: {
          summary: "GlitchTip's webhook (its Slack-compatible message), authenticated by the secret token in the URL",
          tags: ['alerts'],
          security: [],
          params: GlitchtipHookParams,
          response: hookResponses,
        },
      },
      async (req, reply) => {
        const expected = deps.config.glitchtip.token;
        if (!expected) refuse(req, 'glitchtip', 'GlitchTip webhooks are not configured on this server (alerts.glitchtip.token)');
        if (!secretMatches(expected!, req.params.token)) refuse(req, 'glitchtip', 'wrong token in the webhook URL');
        const parsed = parse(() => parseGlitchtipWebhook(json(rawBody(req.body))));
        const answer = deps.intake.accept({ source: 'glitchtip', resource: 'webhook' }, parsed);
        return reply.code(answer.outcome === 'queued' ? 202 : 200).send(answer);
      },
    );

    r.get(
      '/api/alerts',
      { schema: { summary: 'Alerts, newest first', tags: ['alerts'], querystring: AlertListQuery, response: { 200: AlertList } } },
      async (req) => ({ alerts: deps.store.list(req.query.limit) }),
    );

    r.get(
      '/api/alerts/deliveries',
      {
        schema: {
          summary: 'Webhook deliveries that passed authentication, newest first, with what became of each',
          tags: ['alerts'],
          querystring: AlertListQuery,
          response: { 200: AlertDeliveryList },
        },
      },
      async (req) => ({ deliveries: deps.deliveries.list(req.query.limit) }),
    );

    r.get(
      '/api/alerts/:id',
      { schema: { summary: 'One alert', tags: ['alerts'], params: AlertIdParams, response: { 200: Alert, 404: ErrorEnvelope } } },
      async (req) => {
        const alert = deps.store.get(req.params.id);
        if (!alert) throw new AppError('ALERT_NOT_FOUND', `no alert "${req.params.id}"`);
        return alert;
      },
    );
  };
}

/** The project whose service hook secret signed the body, if any (each compared in constant time). */
function serviceHookProject(config: AlertsConfig, raw: Buffer, signature: string | undefined): string | undefined {
  let found: string | undefined;
  for (const [key, policy] of Object.entries(config.projects)) {
    if (policy.serviceHookSecret && signatureMatches(policy.serviceHookSecret, raw, signature)) found ??= key;
  }
  return found;
}

function rawBody(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  throw new AppError('INVALID_REQUEST', 'send the webhook as application/json');
}

function json(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new AppError('INVALID_REQUEST', `the body is not JSON: ${(e as Error).message}`);
  }
}

function parse(fn: () => ParsedDelivery): ParsedDelivery {
  try {
    return fn();
  } catch (e) {
    if (e instanceof MalformedPayload) throw new AppError('INVALID_REQUEST', e.message);
    throw e;
  }
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}
