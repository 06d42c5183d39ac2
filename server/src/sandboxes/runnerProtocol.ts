// Talks to af-runner (server/runner/af-runner.c) over its stdin/stdout:
// frames of u32 length, u32 id, u8 type, payload. One client per session.
import type { Readable, Writable } from 'node:stream';
import { SandboxError } from './sandboxError';
import type { SandboxLimits } from './sandboxProvider';

/** Where a sandbox sees the model gateway's socket, which the runner relays to its loopback. */
export const GATEWAY_SOCKET_PATH = '/.astraforge/gateway.sock';

/** af-runner's limit and relay flags (after its --shell): the per-process limits, and the gateway relay when there is one. */
export function runnerArgs(limits: SandboxLimits, relayPort?: number): string[] {
  // prettier-ignore
  return [
    '--nproc', String(limits.pids),
    '--as', String(limits.addressSpaceBytes),
    '--fsize', String(limits.fileSizeBytes),
    '--cpu', String(limits.cpuSecondsPerProcess),
    '--nofile', String(limits.openFiles),
    '--disk-quota', String(limits.diskQuotaBytes),
    ...(relayPort ? ['--relay-port', String(relayPort), '--relay-socket', GATEWAY_SOCKET_PATH] : []),
  ];
}

export interface RunnerExecOptions {
  timeoutMs: number;
  /** Keep stderr apart from stdout (the toolkit API wants both); otherwise one interleaved stream. */
  separateStderr: boolean;
  /** Output beyond this many bytes is read and dropped inside the sandbox. */
  maxOutputBytes: number;
  onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export interface RunnerExecResult {
  exitCode: number;
  cwd: string;
  timedOut: boolean;
  truncated: boolean;
  killed: boolean;
  quotaExceeded: boolean;
}

interface Pending {
  onFrame(type: string, payload: Buffer): boolean; // true when the request is complete
  reject(err: Error): void;
}

const HEADER = 9;

export class RunnerClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffer: Buffer = Buffer.alloc(0);
  private closedError: Error | undefined;
  readonly ready: Promise<number>;
  readonly notices: string[] = [];

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    let resolveReady!: (pid: number) => void;
    let rejectReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    this.ready.catch(() => undefined);
    this.pending.set(0, {
      onFrame: (type, payload) => {
        if (type === 'H') resolveReady(Number(payload.toString()));
        if (type === 'N') this.notices.push(payload.toString());
        return false;
      },
      reject: rejectReady,
    });
    output.on('data', (d: Buffer) => this.onData(d));
    output.on('close', () => this.close(new SandboxError('SANDBOX_GONE', 'the sandbox has exited')));
    input.on('error', () => this.close(new SandboxError('SANDBOX_GONE', 'the sandbox has exited')));
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  exec(cmd: string, opts: RunnerExecOptions): { id: number; result: Promise<RunnerExecResult> } {
    const cmdBuf = Buffer.from(cmd, 'utf8');
    const head = Buffer.alloc(13);
    head.writeUInt32LE(Math.max(0, Math.min(opts.timeoutMs, 0xffffffff)), 0);
    head.writeUInt8(opts.separateStderr ? 1 : 0, 4);
    head.writeBigUInt64LE(BigInt(opts.maxOutputBytes), 5);
    let quota = false;
    const { id, done } = this.request<RunnerExecResult>('X', [head, cmdBuf], (type, payload, resolve) => {
      if (type === 'O') opts.onOutput('stdout', payload);
      else if (type === 'E') opts.onOutput('stderr', payload);
      else if (type === 'D') {
        const flags = payload.readUInt8(4);
        quota = (flags & 8) !== 0;
        resolve({
          exitCode: payload.readInt32LE(0),
          timedOut: (flags & 1) !== 0,
          truncated: (flags & 2) !== 0,
          killed: (flags & 4) !== 0,
          quotaExceeded: quota,
          cwd: payload.subarray(5).toString('utf8'),
        });
        return true;
      }
      return false;
    });
    return { id, result: done };
  }

  /** Kills the whole process tree of a running exec; its result then arrives with killed set. */
  kill(execId: number): void {
    this.send(execId, 'K', []);
  }

  readFile(path: string, maxBytes: number): Promise<{ content: Buffer; truncated: boolean }> {
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(maxBytes), 0);
    return this.request<{ content: Buffer; truncated: boolean }>('R', [head, Buffer.from(path)], (type, payload, resolve) => {
      if (type !== 'F') return false;
      resolve({ truncated: payload.readUInt8(0) === 1, content: payload.subarray(1) });
      return true;
    }).done;
  }

  writeFile(path: string, data: Buffer, mode = 0): Promise<void> {
    const p = Buffer.from(path);
    const head = Buffer.alloc(8);
    head.writeUInt32LE(mode, 0);
    head.writeUInt32LE(p.length, 4);
    return this.request<void>('W', [head, p, data], (type, _payload, resolve) => {
      if (type !== 'A') return false;
      resolve();
      return true;
    }).done;
  }

  close(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private request<T>(
    type: string,
    parts: Buffer[],
    handle: (type: string, payload: Buffer, resolve: (v: T) => void) => boolean,
  ): { id: number; done: Promise<T> } {
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => {
      if (this.closedError) return reject(this.closedError);
      this.pending.set(id, {
        onFrame: (t, payload) => {
          if (t === 'Z') {
            reject(runnerError(payload));
            return true;
          }
          return handle(t, payload, resolve);
        },
        reject,
      });
      this.send(id, type, parts);
    });
    return { id, done };
  }

  private send(id: number, type: string, parts: Buffer[]): void {
    const len = parts.reduce((n, b) => n + b.length, 0);
    const head = Buffer.alloc(HEADER);
    head.writeUInt32LE(len, 0);
    head.writeUInt32LE(id, 4);
    head.write(type, 8, 'latin1');
    this.input.write(parts.length ? Buffer.concat([head, ...parts]) : head);
  }

  private onData(d: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
    let off = 0;
    while (this.buffer.length - off >= HEADER) {
      const len = this.buffer.readUInt32LE(off);
      if (this.buffer.length - off < HEADER + len) break;
      const id = this.buffer.readUInt32LE(off + 4);
      const type = String.fromCharCode(this.buffer[off + 8]);
      // Copy: the payload outlives this buffer (it is handed to listeners).
      const payload = Buffer.from(this.buffer.subarray(off + HEADER, off + HEADER + len));
      off += HEADER + len;
      const p = this.pending.get(id);
      if (p && p.onFrame(type, payload)) this.pending.delete(id);
    }
    this.buffer = off === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(off);
  }
}

function runnerError(payload: Buffer): SandboxError {
  const code = payload.readUInt8(0);
  const message = payload.subarray(1).toString();
  switch (code) {
    case 1:
      return new SandboxError('PATH_OUTSIDE', message);
    case 2:
      return new SandboxError('NOT_FOUND', message);
    case 3:
      return new SandboxError('NOT_A_FILE', message);
    case 5:
      return new SandboxError('LIMIT', message);
    case 6:
      return new SandboxError('NO_SPACE', message);
    default:
      return new SandboxError('IO', message);
  }
}
