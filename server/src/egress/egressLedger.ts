// What one sandbox's proxy has done: the upstream connections open, bytes and
// connections counted (a run's usage), the hosts reached once each, the
// refusals, and the limits on connections at once and bytes per sandbox.
import type { Socket } from 'node:net';
import type { NetworkUsage, SessionNetwork } from '@astraforge/contract/networkPolicy';

export interface EgressLimits {
  /** Connections open at once through one sandbox's proxy. */
  maxConnections: number;
  /** Bytes both ways through one sandbox's proxy (a run's whole allowance). */
  maxBytes: number;
  idleTimeoutMs: number;
  maxConnectionMs: number;
  connectTimeoutMs: number;
}

export interface AllowedConnection {
  host: string;
  port: number;
  rule: string;
  address: string;
}

export interface BlockedConnection {
  host: string;
  port: number;
  rule: string;
  reason: string;
}

/** Who hears of a sandbox's traffic (a run turns it into events and usage). */
export interface EgressObserver {
  /** The first allowed connection to each host:port. */
  allowed(c: AllowedConnection): void;
  /** Every refusal (up to MAX_BLOCKED_REPORTS per sandbox). */
  blocked(c: BlockedConnection): void;
  /** The totals, after each connection ends. */
  usage(u: NetworkUsage): void;
}

const MAX_BLOCKED_KEPT = 20;
/** A sandbox that keeps trying hosts it may not reach fills no run log: refusals past this are only counted. */
const MAX_BLOCKED_REPORTS = 500;
/** Hosts reported (and remembered for once-per-host) per sandbox: random names under a wildcard cannot grow it without end. */
const MAX_ALLOWED_REMEMBERED = 10_000;
const MAX_ALLOWED_SHOWN = 200;

export class EgressLedger {
  readonly upstreams = new Set<Socket>();
  private readonly allowedHosts = new Set<string>();
  private readonly blockedKept: SessionNetwork['blocked'] = [];
  /** Bytes of connections that ended, connections made, refusals; live connections are added by usage(). */
  private readonly totals: NetworkUsage = { bytes_sent: 0, bytes_received: 0, connections: 0, blocked: 0 };
  private limitTimer?: NodeJS.Timeout;
  observer?: EgressObserver;

  constructor(
    private readonly limits: EgressLimits,
    private readonly log: (obj: Record<string, unknown>, msg: string) => void,
  ) {}

  /** An upstream connection that is up: counted, timed out when idle or too old, its bytes added when it ends. */
  track(upstream: Socket): void {
    const { limits } = this;
    this.upstreams.add(upstream);
    this.totals.connections++;
    upstream.setTimeout(limits.idleTimeoutMs, () => upstream.destroy());
    const lifetime = setTimeout(() => upstream.destroy(), limits.maxConnectionMs);
    // Uploads are checked against the byte limit on a timer; downloads on each chunk (meter).
    this.limitTimer ??= setInterval(() => this.enforceByteLimit(), 1000);
    upstream.once('close', () => {
      clearTimeout(lifetime);
      this.upstreams.delete(upstream);
      this.totals.bytes_sent += upstream.bytesWritten;
      this.totals.bytes_received += upstream.bytesRead;
      if (!this.upstreams.size) {
        clearInterval(this.limitTimer);
        this.limitTimer = undefined;
      }
      this.observer?.usage(this.usage());
    });
  }

  /** Called once the upstream's reader is attached (a listener before it would take bytes from it). */
  meter(upstream: Socket): void {
    upstream.on('data', () => this.enforceByteLimit());
  }

  /** A chunk came down a connection read without 'data' events (a tunnel's onread). */
  counted(): void {
    this.enforceByteLimit();
  }

  /** Ended connections' bytes and the live ones' so far. */
  usage(): NetworkUsage {
    const u = { ...this.totals };
    for (const s of this.upstreams) {
      u.bytes_sent += s.bytesWritten;
      u.bytes_received += s.bytesRead;
    }
    return u;
  }

  overByteLimit(): boolean {
    const u = this.usage();
    return u.bytes_sent + u.bytes_received >= this.limits.maxBytes;
  }

  private enforceByteLimit(): void {
    const u = this.usage();
    if (u.bytes_sent + u.bytes_received <= this.limits.maxBytes) return;
    // Past the allowance: every connection ends now, and new ones are refused.
    for (const s of this.upstreams) s.destroy();
    this.log({ usage: u }, 'egress byte limit reached');
  }

  noteAllowed(c: AllowedConnection): void {
    const key = `${c.host}:${c.port}`;
    if (this.allowedHosts.has(key) || this.allowedHosts.size >= MAX_ALLOWED_REMEMBERED) return;
    this.allowedHosts.add(key);
    this.observer?.allowed(c);
  }

  noteBlocked(b: BlockedConnection): void {
    this.totals.blocked++;
    this.blockedKept.push({ ...b, at: new Date().toISOString() });
    if (this.blockedKept.length > MAX_BLOCKED_KEPT) this.blockedKept.shift();
    if (this.totals.blocked > MAX_BLOCKED_REPORTS) return;
    this.observer?.blocked(b);
    this.log({ egress: 'blocked', host: b.host, port: b.port, rule: b.rule }, 'egress connection blocked');
  }

  allowedShown(): string[] {
    return [...this.allowedHosts].slice(0, MAX_ALLOWED_SHOWN);
  }

  blockedShown(): SessionNetwork['blocked'] {
    return this.blockedKept.map((b) => ({ ...b }));
  }

  close(): void {
    clearInterval(this.limitTimer);
    for (const s of this.upstreams) s.destroy();
  }
}
