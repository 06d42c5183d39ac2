// What a verified delivery does: each alert in it is routed to its project,
// counted on the alert that already speaks for its issue (one in flight, or
// one whose pull request is open), or queued as a new alert; and the
// delivery is recorded with its outcome. Fast on purpose: Sentry wants an
// answer within a second, so fetching events and cloning happen later.
import { randomBytes } from 'node:crypto';
import type { Alert, AlertDelivery, AlertSource, DeliveryOutcome, HookAnswer } from '@astraforge/contract/alertsApi';
import type { AlertsConfig } from '../alertsConfig';
import { routeFor } from '../pipeline/projectRoutes';
import type { AlertStore } from '../store/alertStore';
import type { DeliveryLog } from '../store/deliveryLog';
import { reportFromEvent, reportFromSummary } from './errorReport';
import type { IncomingAlert, ParsedDelivery } from './hookPayloads';

export interface DeliveryMeta {
  source: AlertSource;
  resource: string;
  requestId?: string;
}

export interface IntakeDeps {
  config: AlertsConfig;
  store: AlertStore;
  deliveries: DeliveryLog;
  /** Called once alerts were queued. */
  onQueued: () => void;
  /** Called when a repeat lands on an alert whose pull request is open (its description shows the count). */
  onRepeatOfProposed: (alert: Alert) => void;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

export class AlertIntake {
  constructor(private readonly deps: IntakeDeps) {}

  /** A delivery whose Request-ID was seen already: recorded as such, and nothing else. */
  isDuplicate(meta: DeliveryMeta): boolean {
    return meta.requestId !== undefined && this.deps.deliveries.seen(meta.requestId);
  }

  accept(meta: DeliveryMeta, parsed: ParsedDelivery): HookAnswer {
    if (this.isDuplicate(meta))
      return this.answer([this.record(meta, parsed.action, { outcome: 'duplicate', reason: 'this Request-ID was handled already' })]);
    if (parsed.kind === 'acknowledge') return this.answer([this.record(meta, parsed.action, { outcome: 'acknowledged' })]);
    if (parsed.kind === 'ignore') return this.answer([this.record(meta, parsed.action, { outcome: 'ignored', reason: parsed.reason })]);
    const records = parsed.alerts.map((incoming) => this.record(meta, parsed.action, this.take(incoming)));
    if (records.some((r) => r.outcome === 'queued')) this.deps.onQueued();
    return this.answer(records);
  }

  private take(incoming: IncomingAlert): Partial<AlertDelivery> & { outcome: DeliveryOutcome } {
    const base = { project: incoming.project, issue_id: incoming.issueId };
    const route = routeFor(this.deps.config, incoming.project);
    if (!route) return { ...base, outcome: 'ignored', reason: `project "${incoming.project}" is not mapped to a repository` };
    const open = this.deps.store.openFor(incoming.source, incoming.issueId);
    if (open) {
      open.occurrences += 1;
      open.notes.push({ at: new Date().toISOString(), text: `another alert for this issue (${open.occurrences} so far)` });
      this.deps.store.save(open);
      if (open.status === 'proposed') this.deps.onRepeatOfProposed(open);
      return { ...base, outcome: 'repeat', alert_id: open.id, reason: `counted on alert ${open.id} (${open.status})` };
    }
    const waiting = this.deps.store.queued().filter((a) => a.project === route.key).length;
    if (waiting >= this.deps.config.maxQueuedPerProject)
      return { ...base, outcome: 'dropped', reason: `${waiting} alerts of project "${route.key}" are already waiting` };
    const alert = this.newAlert(incoming, route.key);
    this.deps.store.save(alert);
    this.deps.log({ alert_id: alert.id, project: route.key, issue_id: alert.issue_id, source: alert.source }, 'alert queued');
    return { ...base, outcome: 'queued', alert_id: alert.id };
  }

  private newAlert(incoming: IncomingAlert, projectKey: string): Alert {
    const now = new Date().toISOString();
    const error = incoming.event
      ? reportFromEvent(incoming.event, { breadcrumbs: this.deps.config.breadcrumbs, link: incoming.link, fallbackTitle: incoming.title })
      : reportFromSummary(incoming);
    return {
      id: randomBytes(8).toString('hex'),
      source: incoming.source,
      project: projectKey,
      issue_id: incoming.issueId,
      title: incoming.title.slice(0, 500),
      ...(incoming.link ? { link: incoming.link } : {}),
      status: 'queued',
      created_at: now,
      updated_at: now,
      occurrences: 1,
      notes: [],
      error,
    };
  }

  private record(
    meta: DeliveryMeta,
    action: string | undefined,
    fields: Partial<AlertDelivery> & { outcome: DeliveryOutcome },
  ): AlertDelivery {
    const delivery: AlertDelivery = {
      id: randomBytes(8).toString('hex'),
      received_at: new Date().toISOString(),
      source: meta.source,
      resource: meta.resource,
      ...(action ? { action } : {}),
      ...(meta.requestId ? { request_id: meta.requestId } : {}),
      ...fields,
    };
    this.deps.deliveries.record(delivery);
    return delivery;
  }

  private answer(records: AlertDelivery[]): HookAnswer {
    const outcome = records.find((r) => r.outcome === 'queued')?.outcome ?? records[0].outcome;
    return { outcome, deliveries: records.map((r) => r.id), alert_ids: records.flatMap((r) => (r.alert_id ? [r.alert_id] : [])) };
  }
}
