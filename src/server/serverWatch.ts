// Notices that the server this window uses went away: an outdated server
// that exits once its runs end, the idle exit, a crash, a stop from another
// window. The user's own server is watched by its process id, which costs
// nothing to ask often; every server is also asked GET /api/server now and
// then, which doubles as this window's sign of life, so the server's idle
// timeout never fires while a window is open.
import type { ServerInfo } from '@astraforge/contract/serverApi';

export interface ServerWatchOptions {
  /** The server's process id when it runs on this machine; undefined for a remote server. */
  pid?: number;
  /** Asks the server what it is (undefined: it answered, but not with that); rejects when it cannot be reached. */
  ping: () => Promise<ServerInfo | undefined>;
  onGone: (why: string) => void;
  /** How often the server is asked (default 45 s: within the shortest idle exit, a minute). */
  pingEveryMs?: number;
  /** How often the process id is checked (default 2 s). */
  pidEveryMs?: number;
  /** Called after each ping that answered (for the window's own bookkeeping). */
  onAlive?: (info: ServerInfo) => void;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Watches until `onGone` fired once or the watch is disposed. */
export function watchServer(opts: ServerWatchOptions): { dispose(): void } {
  let done = false;
  const timers: NodeJS.Timeout[] = [];
  const gone = (why: string) => {
    if (done) return;
    dispose();
    opts.onGone(why);
  };
  const dispose = () => {
    done = true;
    for (const t of timers) clearInterval(t);
  };
  const pid = opts.pid;
  if (pid !== undefined)
    timers.push(
      setInterval(() => {
        if (!isProcessAlive(pid)) gone(`the server (pid ${pid}) exited`);
      }, opts.pidEveryMs ?? 2000),
    );
  timers.push(
    setInterval(() => {
      opts.ping().then(
        (info) => {
          if (done) return;
          if (pid !== undefined && info && info.pid !== pid) gone(`another server (pid ${info.pid}) answers in place of pid ${pid}`);
          else if (info) opts.onAlive?.(info);
        },
        (e: Error) => {
          // A local server that still runs is only slow; the process check above says when it is gone.
          if (pid === undefined || !isProcessAlive(pid)) gone(`the server does not answer: ${e.message}`);
        },
      );
    }, opts.pingEveryMs ?? 45_000),
  );
  for (const t of timers) t.unref();
  return { dispose };
}
