// The toolkit API's sandbox sessions, as a thin mapping onto the server's
// own sessions: idle_timeout_sec is the session's ttl (every access extends
// it), max_lifetime_sec a hard end, cpu and memory tighten its limits, and
// metadata rides along as the session's labels.
import type { SessionInfo } from '../contract/sandboxApi';
import type { ToolkitSession, ToolkitSessionRequest } from '../contract/toolkitApi';
import { AppError } from '../errors';
import type { SessionManager } from '../sessions/sessionManager';
import { shellQuote } from '../sessions/shellQuote';

const WORKSPACE = '/workspace';
const TIMED_OUT_EXIT = 124;

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  ki: 1024,
  mi: 1024 ** 2,
  gi: 1024 ** 3,
  ti: 1024 ** 4,
};

/** "512Mi", "2G", "1073741824": bytes. */
export function parseMemory(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$/i.exec(q);
  if (!m) throw new AppError('INVALID_REQUEST', `memory "${q}" is not a quantity like 512Mi or 2G`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? '').toLowerCase()]);
}

/** "500m", "2", 1.5: cores. */
export function parseCpu(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(m?)\s*$/.exec(q);
  if (!m) throw new AppError('INVALID_REQUEST', `cpu "${q}" is not a quantity like 500m or 2`);
  return Number(m[1]) / (m[2] ? 1000 : 1);
}

export class ToolkitSessions {
  constructor(
    private readonly sessions: SessionManager,
    private readonly mode: string,
  ) {}

  async create(req: ToolkitSessionRequest): Promise<ToolkitSession> {
    if (req.id) return this.get(req.id);
    const info = await this.sessions.create(
      { image: req.image, ttl_seconds: req.idle_timeout_sec },
      {
        maxLifetimeSeconds: req.max_lifetime_sec,
        limits: {
          memoryBytes: req.memory !== undefined ? parseMemory(req.memory) : undefined,
          cpus: req.cpu !== undefined ? parseCpu(req.cpu) : undefined,
        },
        labels: { toolkit: { mode: req.mode, cpu: req.cpu, memory: req.memory, metadata: req.metadata ?? {} } },
      },
    );
    return this.view(info);
  }

  list(): ToolkitSession[] {
    return this.sessions.list().map((s) => this.view(s));
  }

  get(id: string): ToolkitSession {
    return this.view(this.sessions.get(id));
  }

  async destroy(id: string): Promise<void> {
    await this.sessions.destroy(id);
  }

  heartbeat(id: string): { status: string; last_heartbeat_at: string } {
    this.sessions.assertUsable(id);
    const s = this.get(id);
    return { status: s.status, last_heartbeat_at: s.last_heartbeat_at };
  }

  async shell(id: string, command: string | string[], cwd: string | undefined, timeoutSec: number | undefined) {
    const line = Array.isArray(command) ? command.map(shellQuote).join(' ') : command;
    // A cwd applies to this command only, so it runs in a subshell and the session's own directory stays.
    const cmd = cwd ? `(cd ${shellQuote(cwd)} && ${line})` : line;
    const out = await this.sessions.exec(id, cmd, { separateStderr: true, timeoutMs: timeoutSec ? timeoutSec * 1000 : undefined });
    const stderr = out.timedOut
      ? `${out.stderr}\n[timed out after ${timeoutSec ?? 'the default'} s; the command's processes were killed]`
      : out.stderr;
    return {
      exit_code: out.timedOut ? TIMED_OUT_EXIT : out.exitCode,
      stdout: out.stdout,
      stderr,
      duration_sec: out.durationMs / 1000,
    };
  }

  async write(id: string, path: string, data: Buffer) {
    const written = await this.sessions.writeFile(id, path, data);
    return { exit_code: 0, stdout: '', stderr: '', path: written, size: data.length };
  }

  /** Writes a file the server spooled to `hostFile` (`size` bytes), copied to the sandbox a chunk at a time. */
  async writeFromHost(id: string, path: string, hostFile: string, size: number) {
    const written = await this.sessions.writeFileFromHost(id, path, hostFile);
    return { exit_code: 0, stdout: '', stderr: '', path: written, size };
  }

  async read(id: string, path: string, maxBytes: number): Promise<Buffer> {
    const { content, truncated } = await this.sessions.readFile(id, path, maxBytes);
    if (truncated) throw new AppError('PAYLOAD_TOO_LARGE', `"${path}" is larger than ${maxBytes} bytes`);
    return content;
  }

  private view(info: SessionInfo): ToolkitSession {
    const toolkit = (this.sessions.labelsOf(info.id)?.toolkit ?? {}) as {
      mode?: string;
      cpu?: string | number;
      memory?: string | number;
      metadata?: Record<string, unknown>;
    };
    return {
      id: info.id,
      mode: toolkit.mode ?? this.mode,
      image: info.image,
      status: info.status === 'running' ? 'ready' : info.status === 'crashed' ? 'failed' : 'terminated',
      workspace_path: WORKSPACE,
      idle_timeout_sec: info.ttl_seconds,
      max_lifetime_sec: info.max_lifetime_seconds ?? null,
      cpu: toolkit.cpu ?? null,
      memory: toolkit.memory ?? null,
      metadata: toolkit.metadata ?? {},
      created_at: info.created_at,
      updated_at: info.last_activity,
      expires_at: info.expires_at,
      last_heartbeat_at: info.last_activity,
    };
  }
}
