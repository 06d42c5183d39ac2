// Alerts to fixes, assembled: the stores under <data>/alerts, the intake
// behind the webhook routes, the pipeline that turns an alert into a run and
// a draft pull request, and the scheduler that takes the queue in turn.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { alertRoutes } from './alertRoutes';
import type { AlertsConfig } from './alertsConfig';
import { AlertIntake } from './intake/alertIntake';
import { TrackerApi } from './outbound/trackerApi';
import { AlertPipeline } from './pipeline/alertPipeline';
import { AlertScheduler } from './pipeline/alertScheduler';
import type { RunsPort, SnapshotsPort } from './pipeline/runsPort';
import { AlertStore } from './store/alertStore';
import { DeliveryLog } from './store/deliveryLog';

export interface AlertsOptions {
  config: AlertsConfig;
  dataDir: string;
  runs: RunsPort;
  snapshots: SnapshotsPort;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

export interface Alerts {
  /** Registers the routes (before the app listens). */
  register(app: FastifyInstance): Promise<void>;
  /** Resumes what a previous server left and starts the queue (once the run service has started). */
  start(): void;
  stop(): void;
}

export function createAlerts(opts: AlertsOptions): Alerts {
  const dir = join(opts.dataDir, 'alerts');
  const store = new AlertStore(join(dir, 'alerts'));
  const deliveries = new DeliveryLog(dir);
  const trackerApi = (t: { apiUrl?: string; apiToken?: string }) =>
    t.apiUrl && t.apiToken ? new TrackerApi({ apiUrl: t.apiUrl, token: t.apiToken }) : undefined;
  const pipeline = new AlertPipeline({
    config: opts.config,
    store,
    runs: opts.runs,
    snapshots: opts.snapshots,
    workDir: join(dir, 'work'),
    trackers: { sentry: trackerApi(opts.config.sentry), glitchtip: trackerApi(opts.config.glitchtip) },
    log: opts.log,
  });
  const scheduler = new AlertScheduler(opts.config, store, pipeline);
  const intake = new AlertIntake({
    config: opts.config,
    store,
    deliveries,
    onQueued: () => scheduler.kick(),
    onRepeatOfProposed: (alert) => void pipeline.refreshProposed(alert),
    log: opts.log,
  });
  return {
    register: async (app) => {
      await app.register(alertRoutes({ config: opts.config, intake, store, deliveries, log: opts.log }));
    },
    start: () => scheduler.start(),
    stop: () => scheduler.stop(),
  };
}
