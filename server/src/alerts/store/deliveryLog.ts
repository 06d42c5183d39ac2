// Every webhook delivery that passed its authentication, one JSON line each
// in <data>/alerts/deliveries.jsonl: when, from where, and what became of
// it. Deliveries that failed authentication are not stored (an attacker
// could fill the disk with them); they are counted in the log only.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlertDelivery } from '@astraforge/contract/alertsApi';

/** Kept in memory and, past twice as many lines, what the file is cut back to at start. */
const KEEP = 2000;

export class DeliveryLog {
  private readonly file: string;
  private readonly recent: AlertDelivery[] = [];
  private readonly requestIds = new Set<string>();

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'deliveries.jsonl');
    if (!existsSync(this.file)) return;
    const lines = readFileSync(this.file, 'utf8').split('\n').filter(Boolean);
    for (const line of lines.slice(-KEEP)) {
      try {
        this.remember(AlertDelivery.parse(JSON.parse(line)));
      } catch {
        /* a torn last line (a crash mid-write) is skipped */
      }
    }
    if (lines.length > 2 * KEEP) {
      writeFileSync(`${this.file}.tmp`, this.recent.map((d) => JSON.stringify(d) + '\n').join(''), { mode: 0o600 });
      renameSync(`${this.file}.tmp`, this.file);
    }
  }

  record(delivery: AlertDelivery): void {
    appendFileSync(this.file, JSON.stringify(delivery) + '\n', { mode: 0o600 });
    this.remember(delivery);
  }

  /** Whether a delivery with this Request-ID was already handled (Sentry retries; an attacker may replay). */
  seen(requestId: string): boolean {
    return this.requestIds.has(requestId);
  }

  /** Newest first. */
  list(limit: number): AlertDelivery[] {
    return this.recent.slice(-limit).reverse();
  }

  private remember(d: AlertDelivery): void {
    this.recent.push(d);
    if (d.request_id) this.requestIds.add(d.request_id);
    if (this.recent.length > KEEP) {
      const dropped = this.recent.shift();
      if (dropped?.request_id) this.requestIds.delete(dropped.request_id);
    }
  }
}
