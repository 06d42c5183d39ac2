// Alerts on disk, one file each (<data>/alerts/alerts/<id>.json, replaced
// atomically), so the queue and every alert's state survive a restart.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ACTIVE_ALERT_STATUSES, Alert, type AlertSource } from '@astraforge/contract/alertsApi';

const ID_PATTERN = /^[a-f0-9]{16,64}$/;

export class AlertStore {
  private readonly alerts = new Map<string, Alert>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const alert = Alert.parse(JSON.parse(readFileSync(join(dir, name), 'utf8')));
        this.alerts.set(alert.id, alert);
      } catch {
        /* an unreadable record is skipped, not fatal */
      }
    }
  }

  save(alert: Alert): void {
    if (!ID_PATTERN.test(alert.id)) throw new Error(`bad alert id ${alert.id}`);
    alert.updated_at = new Date().toISOString();
    const file = join(this.dir, `${alert.id}.json`);
    const fd = openSync(`${file}.tmp`, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(alert));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(`${file}.tmp`, file);
    this.alerts.set(alert.id, alert);
  }

  get(id: string): Alert | undefined {
    return this.alerts.get(id);
  }

  /** Newest first. */
  list(limit: number): Alert[] {
    return this.all()
      .sort((a, b) => b.created_at.localeCompare(a.created_at))
      .slice(0, limit);
  }

  all(): Alert[] {
    return [...this.alerts.values()];
  }

  /** The alert that still speaks for an issue: one in flight, or one whose pull request is open. */
  openFor(source: AlertSource, issueId: string): Alert | undefined {
    return this.all().find(
      (a) => a.source === source && a.issue_id === issueId && (ACTIVE_ALERT_STATUSES.includes(a.status) || a.status === 'proposed'),
    );
  }

  /** Queued alerts, oldest first. */
  queued(): Alert[] {
    return this.all()
      .filter((a) => a.status === 'queued')
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
  }
}
