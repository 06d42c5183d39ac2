// Turns a Sentry-style event into an error report. Two shapes reach us: the
// event as webhooks carry it (exception.values, request, tags as pairs,
// snake_case frames) and as the REST API serves it (entries[], tags as
// {key, value}, camelCase frames); GlitchTip's API serves the second.
// Everything here is input from outside: sizes are capped, and the request
// loses its cookies and anything that looks like a credential.
import type { ErrorFrame, ErrorReport } from '@astraforge/contract/alertsApi';

const MAX_FRAMES = 50;
const MAX_TEXT = 2000;
const MAX_TAGS = 60;
/** Header and query names whose values are credentials or session state. */
const SECRET_NAME = /cookie|auth|token|secret|session|passw|api[-_]?key|signature|csrf|xsrf|jwt|bearer/i;

type Json = Record<string, unknown>;

export interface ReportOptions {
  /** How many of the last breadcrumbs to keep. */
  breadcrumbs: number;
  /** The issue's page, when the payload around the event says it better than the event. */
  link?: string;
  /** Used when the event has no title of its own. */
  fallbackTitle?: string;
}

export function reportFromEvent(event: Json, opts: ReportOptions): ErrorReport {
  const entries = Array.isArray(event.entries) ? (event.entries as unknown[]).filter(isObject) : [];
  const entry = (type: string) => entries.find((e) => e.type === type)?.data as Json | undefined;
  const exceptionValues = listOf((entry('exception') ?? asObject(event.exception))?.values);
  const exceptions = exceptionValues.map((e) => ({ type: text(e.type, 200), value: text(e.value, MAX_TEXT) }));
  const tags = tagsOf(event.tags);
  const releaseField = isObject(event.release) ? event.release.version : event.release;
  const report: ErrorReport = {
    title: text(event.title, 500) ?? exceptionTitle(exceptions) ?? opts.fallbackTitle ?? 'Unknown error',
    exceptions,
    frames: framesOf(exceptionValues),
    breadcrumbs: breadcrumbsOf(listOf((entry('breadcrumbs') ?? asObject(event.breadcrumbs))?.values), opts.breadcrumbs),
    tags,
    request: requestOf(entry('request') ?? asObject(event.request)),
    release: text(releaseField, 200) ?? tags.release,
    environment: text(event.environment, 200) ?? tags.environment,
    culprit: text(event.culprit, 500),
    platform: text(event.platform, 50),
    event_id: text(event.event_id ?? event.eventID, 64),
    link: opts.link ?? issueLinkFrom(text(event.web_url, 2000)),
  };
  return dropUndefined(report);
}

/** The report a tracker's summary gives when no event could be had (no stack: the agent gets less to go on). */
export function reportFromSummary(summary: {
  title: string;
  culprit?: string;
  link?: string;
  release?: string;
  environment?: string;
}): ErrorReport {
  return dropUndefined({
    title: summary.title.slice(0, 500),
    exceptions: [],
    frames: [],
    breadcrumbs: [],
    tags: {},
    culprit: summary.culprit?.slice(0, 500),
    link: summary.link,
    release: summary.release,
    environment: summary.environment,
  });
}

/** Innermost first (trackers list the oldest call first), the application's own frames before the rest. */
function framesOf(exceptions: Json[]): ErrorFrame[] {
  const frames: ErrorFrame[] = [];
  // The last exception of the chain is the one raised; its frames come first.
  for (const exception of [...exceptions].reverse()) {
    const raw = listOf(asObject(exception.stacktrace)?.frames).reverse();
    for (const f of raw) {
      const file = text(f.filename ?? f.abs_path ?? f.absPath ?? f.module, 1000);
      if (!file) continue;
      frames.push(
        dropUndefined({
          file,
          function: text(f.function, 300),
          module: text(f.module, 300),
          line: integer(f.lineno ?? f.lineNo),
          column: integer(f.colno ?? f.colNo),
          in_app: (f.in_app ?? f.inApp) === true,
          context_line: text(f.context_line, 500) ?? contextLineOf(f.context, integer(f.lineno ?? f.lineNo)),
        }),
      );
    }
  }
  const own = frames.filter((f) => f.in_app);
  const rest = frames.filter((f) => !f.in_app);
  return [...own, ...rest].slice(0, MAX_FRAMES);
}

/** The API's frames carry context as [line number, text] pairs. */
function contextLineOf(context: unknown, line: number | undefined): string | undefined {
  if (!Array.isArray(context) || line === undefined) return undefined;
  const hit = context.find((pair) => Array.isArray(pair) && pair[0] === line);
  return hit ? text(hit[1], 500) : undefined;
}

function breadcrumbsOf(values: Json[], keep: number): ErrorReport['breadcrumbs'] {
  if (keep === 0) return [];
  return values.slice(-keep).map((b) =>
    dropUndefined({
      timestamp: typeof b.timestamp === 'number' ? new Date(b.timestamp * 1000).toISOString() : text(b.timestamp, 40),
      category: text(b.category, 100),
      level: text(b.level, 20),
      message: text(b.message, 500),
      data: isObject(b.data) ? withoutSecrets(b.data) : undefined,
    }),
  );
}

function requestOf(request: Json | undefined): ErrorReport['request'] {
  if (!request) return undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of pairsOf(request.headers)) if (!SECRET_NAME.test(name)) headers[name.slice(0, 100)] = value.slice(0, 500);
  const query = pairsOf(request.query_string ?? request.query)
    .map(([k, v]) => `${k}=${SECRET_NAME.test(k) ? '[removed]' : v}`)
    .join('&');
  const rawQuery = typeof (request.query_string ?? request.query) === 'string' ? String(request.query_string ?? request.query) : undefined;
  return dropUndefined({
    method: text(request.method, 20),
    url: urlWithoutCredentials(text(request.url, 2000)),
    query: query || (rawQuery ? redactQueryString(rawQuery).slice(0, 2000) : undefined),
    headers,
  });
}

function urlWithoutCredentials(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    for (const key of [...u.searchParams.keys()]) if (SECRET_NAME.test(key)) u.searchParams.set(key, '[removed]');
    return u.toString();
  } catch {
    return url;
  }
}

function redactQueryString(query: string): string {
  return query
    .split('&')
    .map((part) => {
      const [k] = part.split('=');
      return SECRET_NAME.test(k) ? `${k}=[removed]` : part;
    })
    .join('&');
}

function withoutSecrets(data: Json): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(data).slice(0, 20)) {
    if (SECRET_NAME.test(k)) continue;
    out[k] = typeof v === 'string' ? (k === 'url' ? urlWithoutCredentials(v) : v.slice(0, 300)) : v;
  }
  return out;
}

/** Tags as pairs ([["k","v"]]) or as objects ([{key, value}]). */
function tagsOf(value: unknown): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const [k, v] of pairsOf(value).slice(0, MAX_TAGS)) tags[k.slice(0, 100)] = v.slice(0, 300);
  return tags;
}

/** Name-value pairs in any of the shapes trackers use: [[k, v]], [{key, value}], or {k: v}. */
function pairsOf(value: unknown): [string, string][] {
  const out: [string, string][] = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      if (Array.isArray(item) && typeof item[0] === 'string' && item[1] != null) out.push([item[0], String(item[1])]);
      else if (isObject(item) && typeof item.key === 'string' && item.value != null) out.push([item.key, String(item.value)]);
    }
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) if (v != null && typeof v !== 'object') out.push([k, String(v)]);
  }
  return out;
}

/** An event's page (…/issues/<id>/events/<event>/) becomes the issue's page. */
function issueLinkFrom(webUrl: string | undefined): string | undefined {
  if (!webUrl) return undefined;
  const m = /^(.*\/issues\/[^/]+\/)/.exec(webUrl);
  return m ? m[1] : webUrl;
}

function exceptionTitle(exceptions: ErrorReport['exceptions']): string | undefined {
  const last = exceptions[exceptions.length - 1];
  if (!last?.type && !last?.value) return undefined;
  return [last.type, last.value].filter(Boolean).join(': ');
}

function listOf(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

function asObject(value: unknown): Json | undefined {
  return isObject(value) ? value : undefined;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown, max: number): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string' || value === '') return undefined;
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

function integer(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
