// How the server ends: a stop asked for over the API (now, or once no run
// is active), the idle timeout, or a signal all go through one shutdown.
// It also answers what the server is (version, build, load) for the windows
// deciding whether to reuse it.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ServerInfo, ShutdownResult } from '@astraforge/contract/serverApi';
import type { ServerControl } from '../api/routes/serverControl';
import { IdleShutdown } from './idleShutdown';

export interface ServerLifecycleOptions {
  version: string;
  /** Identifies this bundle; by default its version and the bundle's modification time. */
  build?: string;
  idleExitSeconds: number;
  activeRuns: () => number;
  /** Stops everything and exits the process. */
  shutdown: (why: string) => Promise<void>;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

export class ServerLifecycle implements ServerControl {
  readonly build: string;
  readonly startedAt = new Date().toISOString();
  private stopping?: 'now' | 'idle';
  private readonly idle: IdleShutdown;
  private drainTimer?: NodeJS.Timeout;

  constructor(private readonly opts: ServerLifecycleOptions) {
    this.build = opts.build || defaultBuild(opts.version);
    this.idle = new IdleShutdown({
      idleExitSeconds: opts.idleExitSeconds,
      activeRuns: opts.activeRuns,
      onIdle: () => void this.end(`idle for ${opts.idleExitSeconds} s with no run and no client`),
    });
  }

  /** Counts the app's requests for the idle timeout and starts watching. */
  attach(app: FastifyInstance): void {
    this.idle.track(app);
    this.idle.start();
  }

  info(): ServerInfo {
    return {
      version: this.opts.version,
      build: this.build,
      pid: process.pid,
      started_at: this.startedAt,
      active_runs: this.opts.activeRuns(),
      open_requests: this.idle.openRequests,
      idle_exit_seconds: this.opts.idleExitSeconds,
      ...(this.stopping ? { stopping: this.stopping } : {}),
    };
  }

  stop(when: 'now' | 'idle'): ShutdownResult {
    const active = this.opts.activeRuns();
    if (when === 'now' || active === 0) {
      this.stopping = 'now';
      // After the reply is on its way.
      setImmediate(() => void this.end('asked to stop'));
    } else if (!this.stopping) {
      this.stopping = 'idle';
      this.opts.log({ active_runs: active }, 'the server stops once its active runs end');
      this.drainTimer = setInterval(() => {
        if (this.opts.activeRuns() === 0) void this.end('asked to stop once its runs ended');
      }, 500);
    }
    return { when: this.stopping ?? when, active_runs: active };
  }

  private async end(why: string): Promise<void> {
    this.idle.stop();
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.opts.log({ why }, 'the server stops');
    await this.opts.shutdown(why);
  }
}

function defaultBuild(version: string): string {
  try {
    return `${version}+${Math.round(statSync(resolve(process.argv[1] ?? __filename)).mtimeMs)}`;
  } catch {
    return version;
  }
}
