// A command in a running session: its output decoded as UTF-8 as it streams
// (a character split between chunks waits for its other half), collected,
// and handed on; a client's abort kills it. The session manager checks the
// session first and maps the sandbox's errors after.
import { StringDecoder } from 'node:string_decoder';
import type { LiveSession } from './liveSession';

export interface ExecOptions {
  timeoutMs?: number;
  separateStderr?: boolean;
  /** Overrides the server's output cap, for internal commands whose output is data (a diff). */
  maxOutputBytes?: number;
  onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
  signal?: AbortSignal;
}

export interface ExecOutcome {
  exitCode: number;
  cwd: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  notice?: string;
}

/** The server's settings for commands that do not choose their own. */
export interface ExecDefaults {
  timeoutMs: number;
  maxOutputBytes: number;
}

/** Runs `cmd` in the session's sandbox; a command that finished normally moves the session's cwd. */
export async function execInSession(live: LiveSession, cmd: string, opts: ExecOptions, defaults: ExecDefaults): Promise<ExecOutcome> {
  const sandbox = live.sandbox!;
  const started = performance.now();
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  const text = { stdout: '', stderr: '' };
  const onOutput = (stream: 'stdout' | 'stderr', chunk: Buffer) => {
    const s = decoders[stream].write(chunk);
    if (!s) return;
    text[stream] += s;
    opts.onOutput?.(stream, s);
  };
  const run = sandbox.exec(cmd, {
    timeoutMs: opts.timeoutMs ?? defaults.timeoutMs,
    separateStderr: opts.separateStderr ?? false,
    maxOutputBytes: opts.maxOutputBytes ?? defaults.maxOutputBytes,
    onOutput,
  });
  const abort = () => sandbox.kill(run.id);
  opts.signal?.addEventListener('abort', abort, { once: true });
  try {
    const r = await run.result;
    for (const stream of ['stdout', 'stderr'] as const) {
      const tail = decoders[stream].end();
      if (tail) {
        text[stream] += tail;
        opts.onOutput?.(stream, tail);
      }
    }
    if (!r.timedOut && !r.killed) live.record.cwd = r.cwd;
    return {
      exitCode: r.exitCode,
      cwd: r.cwd,
      stdout: text.stdout,
      stderr: text.stderr,
      truncated: r.truncated,
      timedOut: r.timedOut,
      cancelled: r.killed,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
      notice: r.quotaExceeded
        ? (live.quota?.lastMessage ?? "the workspace disk quota was exceeded; the session's processes were killed")
        : undefined,
    };
  } finally {
    opts.signal?.removeEventListener('abort', abort);
  }
}
