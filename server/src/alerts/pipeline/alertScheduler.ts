// Whose turn it is. Queued alerts start oldest first, one at a time per
// project (two fixes for one code base at once would race for the same
// lines), and no more per hour than the project's cap; an alert past the cap
// waits, on disk, until the hour has room. After a restart, alerts that were
// cloning start over and those whose run was under way are followed again.
import { ACTIVE_ALERT_STATUSES, type Alert } from '@astraforge/contract/alertsApi';
import type { AlertsConfig } from '../alertsConfig';
import type { AlertStore } from '../store/alertStore';
import type { AlertPipeline } from './alertPipeline';
import { routeFor } from './projectRoutes';

const HOUR_MS = 3600_000;

export class AlertScheduler {
  private wake: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly config: AlertsConfig,
    private readonly store: AlertStore,
    private readonly pipeline: AlertPipeline,
  ) {}

  start(): void {
    for (const alert of this.store.all()) {
      if (alert.status === 'preparing') {
        alert.notes.push({ at: new Date().toISOString(), text: 'the server restarted while preparing the run: queued again' });
        alert.status = 'queued';
        delete alert.started_at;
        this.store.save(alert);
      } else if (alert.status === 'running' || alert.status === 'publishing') {
        this.launch(alert);
      }
    }
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    if (this.wake) clearTimeout(this.wake);
    this.pipeline.stop();
  }

  /** Starts every queued alert whose project is free and under its cap. */
  kick(): void {
    if (this.stopped) return;
    let nextRoom = Infinity;
    for (const alert of this.store.queued()) {
      const route = routeFor(this.config, alert.project);
      if (route && this.projectBusy(alert.project)) continue;
      if (route) {
        const startedThisHour = this.startsWithinHour(alert.project);
        if (startedThisHour.length >= route.maxRunsPerHour) {
          if (route.maxRunsPerHour > 0) nextRoom = Math.min(nextRoom, Math.min(...startedThisHour) + HOUR_MS);
          continue;
        }
      }
      this.launch(alert);
    }
    if (nextRoom !== Infinity) this.wakeAt(nextRoom);
  }

  private launch(alert: Alert): void {
    // process() marks the alert preparing before its first await, so this loop already sees the project busy.
    void this.pipeline.process(alert).finally(() => this.kick());
  }

  private projectBusy(project: string): boolean {
    return this.store.all().some((a) => a.project === project && a.status !== 'queued' && ACTIVE_ALERT_STATUSES.includes(a.status));
  }

  private startsWithinHour(project: string): number[] {
    const since = Date.now() - HOUR_MS;
    return this.store
      .all()
      .filter((a) => a.project === project && a.started_at)
      .map((a) => Date.parse(a.started_at!))
      .filter((t) => t > since);
  }

  private wakeAt(when: number): void {
    if (this.wake) clearTimeout(this.wake);
    this.wake = setTimeout(() => this.kick(), Math.max(1000, when - Date.now() + 1000));
    this.wake.unref();
  }
}
