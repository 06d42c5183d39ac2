// What a verified delivery says: alerts about issues, an installation to
// acknowledge, or something we deliberately leave alone. Only the fields we
// act on are required; each tracker's payload is checked against the shape
// its documentation gives, and a payload without them is malformed (400).
import { z } from 'zod';
import type { AlertSource } from '@astraforge/contract/alertsApi';

type Json = Record<string, unknown>;

export interface IncomingAlert {
  source: AlertSource;
  /** The tracker's project: Sentry's slug (its numeric id when the payload has no slug), GlitchTip's name. */
  project: string;
  issueId: string;
  title: string;
  link?: string;
  /** The event when the payload carries one (issue webhooks and GlitchTip's do not). */
  event?: Json;
  culprit?: string;
  release?: string;
  environment?: string;
}

export type ParsedDelivery =
  | { kind: 'alerts'; action?: string; alerts: IncomingAlert[] }
  | { kind: 'acknowledge'; action?: string }
  | { kind: 'ignore'; action?: string; reason: string };

export class MalformedPayload extends Error {}

const Id = z.union([z.string().min(1).max(64), z.number().int()]).transform(String);
const Event = z.looseObject({ issue_id: Id, title: z.string().optional(), url: z.string().optional(), web_url: z.string().optional() });

const SentryEventAlert = z.looseObject({
  action: z.string(),
  data: z.looseObject({ event: Event, triggered_rule: z.string().optional() }),
});
const SentryIssue = z.looseObject({
  action: z.string(),
  data: z.looseObject({
    issue: z.looseObject({
      id: Id,
      title: z.string(),
      culprit: z.string().nullish(),
      web_url: z.string().optional(),
      permalink: z.string().nullish(),
      project: z.looseObject({ slug: z.string().min(1) }),
    }),
  }),
});
const SentryError = z.looseObject({ action: z.string(), data: z.looseObject({ error: Event }) });
const SentryServiceHook = z.looseObject({
  project: z.looseObject({ slug: z.string().min(1) }),
  group: z.looseObject({
    id: Id,
    title: z.string(),
    url: z.string().optional(),
    permalink: z.string().nullish(),
    culprit: z.string().nullish(),
  }),
  event: z.looseObject({}),
});

/** An integration-platform webhook, by its Sentry-Hook-Resource. */
export function parseSentryWebhook(resource: string, body: unknown): ParsedDelivery {
  switch (resource) {
    case 'installation':
      return { kind: 'acknowledge', action: actionOf(body) };
    case 'event_alert': {
      const p = check(SentryEventAlert, body, 'an event_alert webhook');
      if (p.action !== 'triggered') return { kind: 'ignore', action: p.action, reason: `event_alert "${p.action}" is not a trigger` };
      return { kind: 'alerts', action: p.action, alerts: [alertFromEvent(p.data.event)] };
    }
    case 'error': {
      const p = check(SentryError, body, 'an error webhook');
      if (p.action !== 'created') return { kind: 'ignore', action: p.action, reason: `error "${p.action}" is not a new error` };
      return { kind: 'alerts', action: p.action, alerts: [alertFromEvent(p.data.error)] };
    }
    case 'issue': {
      const p = check(SentryIssue, body, 'an issue webhook');
      if (p.action !== 'created') return { kind: 'ignore', action: p.action, reason: `issue "${p.action}": only new issues start a fix` };
      const issue = p.data.issue;
      return {
        kind: 'alerts',
        action: p.action,
        alerts: [
          {
            source: 'sentry',
            project: issue.project.slug,
            issueId: issue.id,
            title: issue.title,
            link: issue.web_url ?? issue.permalink ?? undefined,
            culprit: issue.culprit ?? undefined,
          },
        ],
      };
    }
    default:
      return { kind: 'ignore', action: actionOf(body), reason: `Sentry resource "${resource}" is not acted on` };
  }
}

/** A per-project service hook (event.alert, event.created): the project, the issue (group) and its event. */
export function parseSentryServiceHook(body: unknown): ParsedDelivery {
  const p = check(SentryServiceHook, body, 'a service hook delivery');
  return {
    kind: 'alerts',
    alerts: [
      {
        source: 'sentry',
        project: p.project.slug,
        issueId: p.group.id,
        title: p.group.title,
        link: p.group.permalink ?? p.group.url,
        event: p.event as Json,
        culprit: p.group.culprit ?? undefined,
      },
    ],
  };
}

const GlitchtipField = z.looseObject({ title: z.string(), value: z.union([z.string(), z.number()]).transform(String) });
const GlitchtipWebhook = z.looseObject({
  text: z.string(),
  attachments: z.array(
    z.looseObject({
      title: z.string(),
      title_link: z.string(),
      text: z.string().nullish(),
      fields: z.array(GlitchtipField).nullish(),
    }),
  ),
});

/** GlitchTip's webhook is Slack's message shape: one attachment per issue, its fields Project, Environment, Release. */
export function parseGlitchtipWebhook(body: unknown): ParsedDelivery {
  const p = check(GlitchtipWebhook, body, "GlitchTip's webhook");
  const alerts: IncomingAlert[] = [];
  for (const a of p.attachments) {
    const issueId = /\/issues\/(\d+)\/?(?:[?#].*)?$/.exec(a.title_link)?.[1];
    const field = (name: string) => a.fields?.find((f) => f.title.toLowerCase() === name.toLowerCase())?.value;
    const project = field('Project');
    if (!issueId || !project) continue;
    alerts.push({
      source: 'glitchtip',
      project,
      issueId,
      title: a.title,
      link: a.title_link,
      culprit: a.text ?? undefined,
      release: field('Release'),
      environment: field('Environment'),
    });
  }
  if (!alerts.length) return { kind: 'ignore', reason: 'no issue with a link and a project in the delivery (a test notification?)' };
  return { kind: 'alerts', alerts };
}

function alertFromEvent(event: z.infer<typeof Event>): IncomingAlert {
  // The event's API URL names the project: /api/0/projects/<org>/<project>/events/<id>/.
  const slug = event.url ? /\/projects\/[^/]+\/([^/]+)\/events\//.exec(event.url)?.[1] : undefined;
  const project = slug ?? (typeof event.project === 'number' || typeof event.project === 'string' ? String(event.project) : undefined);
  if (!project) throw new MalformedPayload('the event names no project (neither data.event.url nor data.event.project)');
  const link = typeof event.web_url === 'string' ? (/^(.*\/issues\/[^/]+\/)/.exec(event.web_url)?.[1] ?? event.web_url) : undefined;
  return {
    source: 'sentry',
    project,
    issueId: event.issue_id,
    title: event.title ?? 'Unknown error',
    link,
    event: event as Json,
  };
}

function check<T extends z.ZodType>(schema: T, body: unknown, what: string): z.infer<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const problems = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new MalformedPayload(`not ${what}: ${problems.join('; ')}`);
}

function actionOf(body: unknown): string | undefined {
  return typeof body === 'object' && body !== null && typeof (body as Json).action === 'string'
    ? ((body as Json).action as string)
    : undefined;
}
