// Alerts to fixes (/api/hooks, /api/alerts): what a Sentry or GlitchTip
// webhook becomes once verified (an error report), the record kept of each
// delivery, and the alert that follows one issue from its first webhook to
// its draft pull request.
import { z } from 'zod';

const isoTime = z.string().describe('RFC 3339 timestamp');

export const AlertSource = z.enum(['sentry', 'glitchtip']);
export type AlertSource = z.infer<typeof AlertSource>;

/** One stack frame, as the error tracker resolved it. */
export const ErrorFrame = z.object({
  /** The path as the tracker recorded it (relative, absolute or a URL). */
  file: z.string(),
  function: z.string().optional(),
  module: z.string().optional(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
  /** Whether the tracker counted the frame as the application's own code. */
  in_app: z.boolean(),
  /** The source lines the tracker captured around the frame, when it had them. */
  context_line: z.string().optional(),
});
export type ErrorFrame = z.infer<typeof ErrorFrame>;

export const ErrorBreadcrumb = z.object({
  timestamp: z.string().optional(),
  category: z.string().optional(),
  level: z.string().optional(),
  message: z.string().optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** The error an alert is about, normalized from either tracker's payload. */
export const ErrorReport = z.object({
  title: z.string(),
  /** The exception chain, outermost last as the trackers send it. */
  exceptions: z.array(z.object({ type: z.string().optional(), value: z.string().optional() })),
  /** Innermost first, the application's own frames before the rest. */
  frames: z.array(ErrorFrame),
  /** The request being served, without cookies, credentials or auth headers. */
  request: z
    .object({
      method: z.string().optional(),
      url: z.string().optional(),
      query: z.string().optional(),
      headers: z.record(z.string(), z.string()),
    })
    .optional(),
  /** The last breadcrumbs before the error, oldest first. */
  breadcrumbs: z.array(ErrorBreadcrumb),
  tags: z.record(z.string(), z.string()),
  release: z.string().optional(),
  environment: z.string().optional(),
  culprit: z.string().optional(),
  platform: z.string().optional(),
  event_id: z.string().optional(),
  /** The issue's page in the tracker. */
  link: z.string().optional(),
});
export type ErrorReport = z.infer<typeof ErrorReport>;

/** What became of one webhook delivery. */
export const DeliveryOutcome = z.enum([
  /** A new alert was queued for a run. */
  'queued',
  /** The issue already has an alert in flight or an open pull request: counted there. */
  'repeat',
  /** Understood and deliberately not acted on (an unmapped project, a resource we do not act on). */
  'ignored',
  /** An installation webhook, answered so Sentry completes the install. */
  'acknowledged',
  /** The same delivery (its Request-ID) again: already handled. */
  'duplicate',
  /** The project's queue is full: recorded, not queued. */
  'dropped',
]);
export type DeliveryOutcome = z.infer<typeof DeliveryOutcome>;

export const AlertDelivery = z.object({
  id: z.string(),
  received_at: isoTime,
  source: AlertSource,
  /** Sentry-Hook-Resource, "service_hook", or "webhook" for GlitchTip. */
  resource: z.string(),
  action: z.string().optional(),
  /** The tracker's own id of the delivery (Sentry's Request-ID), when it sends one. */
  request_id: z.string().optional(),
  outcome: DeliveryOutcome,
  reason: z.string().optional(),
  project: z.string().optional(),
  issue_id: z.string().optional(),
  alert_id: z.string().optional(),
});
export type AlertDelivery = z.infer<typeof AlertDelivery>;

export const AlertStatus = z.enum([
  /** Waiting for its turn (one run per project at a time, and the hourly cap). */
  'queued',
  /** The server is cloning the repository and making the snapshot. */
  'preparing',
  'running',
  /** The run succeeded: the fix is being committed, pushed and proposed. */
  'publishing',
  /** Done: a draft pull request (or merge request) holds the fix. */
  'proposed',
  /** The run succeeded and the fix is reviewable in the run; no pull request is configured. */
  'fixed',
  /** The run succeeded without changing anything. */
  'no_changes',
  /** The diff touches protected paths: it fails review and is not pushed. */
  'blocked',
  'failed',
  /** Its pull request was merged or closed: the next alert for the issue starts a new fix. */
  'closed',
]);
export type AlertStatus = z.infer<typeof AlertStatus>;
export const ACTIVE_ALERT_STATUSES: readonly AlertStatus[] = ['queued', 'preparing', 'running', 'publishing'];

export const PullRequestRef = z.object({
  provider: z.enum(['github', 'gitlab']),
  /** The pull request's number (GitHub) or the merge request's iid (GitLab). */
  number: z.number().int(),
  url: z.string(),
  branch: z.string(),
});
export type PullRequestRef = z.infer<typeof PullRequestRef>;

export const Alert = z.object({
  id: z.string(),
  source: AlertSource,
  /** The config's entry for the tracker's project (the key under alerts.projects). */
  project: z.string(),
  issue_id: z.string(),
  title: z.string(),
  link: z.string().optional(),
  status: AlertStatus,
  created_at: isoTime,
  updated_at: isoTime,
  /** When its run was started (what the hourly cap counts). */
  started_at: isoTime.optional(),
  /** Deliveries about this issue, the first included. */
  occurrences: z.number().int(),
  notes: z.array(z.object({ at: isoTime, text: z.string() })),
  error: ErrorReport.optional(),
  run_id: z.string().optional(),
  /** The commit the fix was made on (the release's when it mapped, else the branch's head). */
  base_commit: z.string().optional(),
  pull_request: PullRequestRef.optional(),
  /** Why it failed, was blocked or found nothing to do. */
  reason: z.string().optional(),
});
export type Alert = z.infer<typeof Alert>;

export const AlertListQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });
export const AlertList = z.object({ alerts: z.array(Alert) });
export const AlertDeliveryList = z.object({ deliveries: z.array(AlertDelivery) });
export const AlertIdParams = z.object({ id: z.string().min(1).max(64) });
export const GlitchtipHookParams = z.object({ token: z.string().min(1).max(512) });

/** What a webhook is answered with (trackers only look at the status). */
export const HookAnswer = z.object({
  outcome: DeliveryOutcome,
  deliveries: z.array(z.string()).describe('The ids of the delivery records made'),
  alert_ids: z.array(z.string()),
});
export type HookAnswer = z.infer<typeof HookAnswer>;
