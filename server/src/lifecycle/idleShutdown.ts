// The background server stops by itself once nobody needs it: no run
// active, no request or event stream open, for `idleExitSeconds`. A window
// that is open keeps a stream open, so the server lives as long as some
// window (or a run) does, and not forever after the last one closed.
import type { FastifyInstance } from 'fastify';

export interface IdleShutdownOptions {
  idleExitSeconds: number;
  activeRuns: () => number;
  onIdle: () => void;
  /** How often it looks; tests shorten it. */
  checkEveryMs?: number;
  now?: () => number;
}

export class IdleShutdown {
  private open = 0;
  private lastBusyMs: number;
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly opts: IdleShutdownOptions) {
    this.now = opts.now ?? Date.now;
    this.lastBusyMs = this.now();
  }

  /** Counts every request from its arrival until its response closes (an event stream: until the client goes). */
  track(app: FastifyInstance): void {
    app.addHook('onRequest', async (_req, reply) => {
      this.open++;
      this.lastBusyMs = this.now();
      // 'close' fires once, when the response ended or its connection dropped, whichever comes first.
      reply.raw.once('close', () => {
        this.open--;
        this.lastBusyMs = this.now();
      });
    });
  }

  get openRequests(): number {
    return this.open;
  }

  /** Seconds since the last request ended or a run was active. */
  idleFor(): number {
    return (this.now() - this.lastBusyMs) / 1000;
  }

  start(): void {
    if (this.opts.idleExitSeconds <= 0) return;
    // A quarter of the timeout, within [250 ms, 15 s]: exits at most a quarter late.
    const every = this.opts.checkEveryMs ?? Math.min(15_000, Math.max(250, (this.opts.idleExitSeconds * 1000) / 4));
    this.timer = setInterval(() => this.check(), every);
    this.timer.unref();
  }

  check(): void {
    if (this.open > 0 || this.opts.activeRuns() > 0) {
      this.lastBusyMs = this.now();
      return;
    }
    if (this.idleFor() >= this.opts.idleExitSeconds) {
      this.stop();
      this.opts.onIdle();
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
