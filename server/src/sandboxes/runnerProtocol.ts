// Talks to af-runner (server/runner/af-runner.c) over its stdin/stdout:
// frames of u32 length, u32 id, u8 type, payload. One client per session.
// Everything the runner sends is untrusted: each frame is checked against the
// request it answers (runnerFrames.ts decodes; runnerRequests.ts encodes and
// says what each request accepts), and a violation ends this one session
// with a PROTOCOL error, never the server. This client keeps the requests in
// flight, the hello and the notices.
import type { Readable, Writable } from 'node:stream';
import {
  describeType,
  FrameDecoder,
  MAX_ERROR_PAYLOAD,
  MAX_HELLO_PAYLOAD,
  MAX_NOTICE_PAYLOAD,
  parseHello,
  parseNotice,
  parseRunnerError,
} from './runnerFrames';
import {
  acceptOk,
  execHead,
  execReplies,
  frameHeader,
  readHead,
  readReplies,
  runnerError,
  WRITE_APPEND,
  writePrefix,
  type ReplyHandler,
  type RunnerExecOptions,
  type RunnerExecResult,
} from './runnerRequests';
import { SandboxError } from './sandboxError';

// The client's exec takes and answers these; they are defined with the request's encoding.
export type { RunnerExecOptions, RunnerExecResult } from './runnerRequests';

/** One request in flight: what frames it accepts, what it does with them, and how it fails. */
interface Pending extends ReplyHandler {
  reject(err: Error): void;
}

/** How long after a command's timeout its result may still take (killing a fork bomb's tree takes a while). */
export const SILENCE_GRACE_MS = 30_000;

/** Notices kept for inspection; older ones are dropped so a flood cannot grow memory. */
const MAX_KEPT_NOTICES = 16;

/** How long a sandbox's output may take to end after its process exited. */
const OUTPUT_END_GRACE_MS = 1000;

export class RunnerClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly decoder: FrameDecoder;
  private closedError: Error | undefined;
  private markClosed!: () => void;
  /** Resolves once the runner is closed, whatever closed it (its failure, if any, is known by then). */
  readonly whenClosed = new Promise<void>((resolve) => (this.markClosed = resolve));
  private helloSeen = false;
  private resolveReady!: (pid: number) => void;
  private readonly protocolListeners: ((err: SandboxError) => void)[] = [];
  readonly ready: Promise<number>;
  readonly notices: string[] = [];

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    let rejectReady!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      this.resolveReady = res;
      rejectReady = rej;
    });
    this.ready.catch(() => undefined);
    this.pending.set(0, { admit: () => undefined, onFrame: () => 'more', reject: rejectReady });
    this.decoder = new FrameDecoder({
      admit: (id, type, length) => this.admit(id, type, length),
      frame: (id, type, payload) => this.dispatch(id, type, payload),
    });
    output.on('data', (d: Buffer) => this.onData(d));
    output.on('close', () => {
      if (this.decoder.buffered > 0 && !this.closedError) this.protocolError('its output ended in the middle of a frame');
      this.close(new SandboxError('SANDBOX_GONE', 'the sandbox has exited'));
    });
    input.on('error', () => this.close(new SandboxError('SANDBOX_GONE', 'the sandbox has exited')));
  }

  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Bytes held for a frame that has not fully arrived (bounded by the frame's admitted cap). */
  get bufferedBytes(): number {
    return this.decoder.buffered;
  }

  /** Called once if the runner breaks the protocol; the client is closed with that error by then. */
  onProtocolError(listener: (err: SandboxError) => void): void {
    this.protocolListeners.push(listener);
  }

  exec(cmd: string, opts: RunnerExecOptions): { id: number; result: Promise<RunnerExecResult> } {
    const { id, done } = this.request<RunnerExecResult>('X', [execHead(opts), Buffer.from(cmd, 'utf8')], (resolve) =>
      execReplies(opts, resolve),
    );
    if (opts.timeoutMs > 0) this.watchdog(id, done, opts.timeoutMs + SILENCE_GRACE_MS);
    return { id, result: done };
  }

  /** The runner kills a command at its timeout and answers; one that stays silent long after is broken. */
  private watchdog(id: number, done: Promise<unknown>, ms: number): void {
    const t = setTimeout(() => {
      if (this.pending.has(id)) this.protocolError(`no result for command ${id} ${SILENCE_GRACE_MS / 1000} s after its timeout`);
    }, ms);
    t.unref();
    done.then(
      () => clearTimeout(t),
      () => clearTimeout(t),
    );
  }

  /** Kills the whole process tree of a running exec; its result then arrives with killed set. */
  kill(execId: number): void {
    this.send(execId, 'K', []);
  }

  /**
   * 'Q' (payload: the message): the runner kills every process in the sandbox
   * but itself, ends running execs with the quota flag and echoes the message
   * as a notice. Sent on request id 0: it answers no request.
   */
  enforceQuota(message: string): void {
    this.send(0, 'Q', [Buffer.from(message, 'utf8').subarray(0, MAX_NOTICE_PAYLOAD)]);
  }

  readFile(path: string, maxBytes: number): Promise<{ content: Buffer; truncated: boolean }> {
    return this.request<{ content: Buffer; truncated: boolean }>('R', [readHead(maxBytes), Buffer.from(path)], (resolve) =>
      readReplies(maxBytes, resolve),
    ).done;
  }

  writeFile(path: string, data: Buffer, mode = 0): Promise<void> {
    return this.request<void>('W', [writePrefix(path, mode), data], acceptOk).done;
  }

  /**
   * Writes a file from `chunks`, one 'W' frame per chunk, each acknowledged
   * before the next is sent (the first truncates, the rest append): neither
   * the server nor the runner ever holds more than one chunk, and other
   * requests go on between them.
   */
  async writeFileChunked(path: string, chunks: AsyncIterable<Buffer>, mode = 0): Promise<void> {
    let first = true;
    for await (const c of chunks) {
      await this.request<void>('W', [writePrefix(path, first ? mode : mode | WRITE_APPEND), c], acceptOk).done;
      first = false;
    }
    if (first) await this.writeFile(path, Buffer.alloc(0), mode);
  }

  /**
   * The sandbox's process is gone. Its output may still hold its last bytes, and with them the
   * precise reason (a frame cut in the middle): the stream's end says so first when it comes
   * soon, as it does unless something inside still holds the stream open.
   */
  sandboxExited(): void {
    if (this.closedError) return;
    setTimeout(() => this.close(new SandboxError('SANDBOX_GONE', 'the sandbox has exited')), OUTPUT_END_GRACE_MS).unref();
  }

  close(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.markClosed();
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private request<T>(type: string, parts: Buffer[], handler: (resolve: (v: T) => void) => ReplyHandler): { id: number; done: Promise<T> } {
    return this.requestWith((id) => this.send(id, type, parts), handler);
  }

  private requestWith<T>(send: (id: number) => void, handler: (resolve: (v: T) => void) => ReplyHandler): { id: number; done: Promise<T> } {
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => {
      if (this.closedError) return reject(this.closedError);
      const h = handler(resolve);
      this.pending.set(id, { admit: h.admit, onFrame: h.onFrame, reject });
      send(id);
    });
    return { id, done };
  }

  private send(id: number, type: string, parts: Buffer[]): void {
    if (this.closedError) return;
    const len = parts.reduce((n, b) => n + b.length, 0);
    const frame = [frameHeader(len, id, type), ...parts.filter((p) => p.length)];
    // Parts go out as they are (a file being written is not copied again).
    for (const b of frame) this.input.write(b);
  }

  private onData(d: Buffer): void {
    if (this.closedError) return;
    let violation: string | undefined;
    try {
      violation = this.decoder.push(d);
    } catch (e) {
      // The checks above are meant to make this unreachable; a listener's throw lands here too.
      violation = `the runner's output could not be handled (${(e as Error).message})`;
    }
    if (violation) this.protocolError(violation);
  }

  private protocolError(violation: string): void {
    const err = new SandboxError('PROTOCOL', `the sandbox broke the runner protocol: ${violation}`);
    this.close(err);
    this.notifyFatal(err);
  }

  private notifyFatal(err: SandboxError): void {
    for (const l of this.protocolListeners.splice(0)) {
      try {
        l(err);
      } catch {
        /* a listener's failure must not reach the stream */
      }
    }
  }

  private admit(id: number, type: string, length: number): string | undefined {
    if (id === 0) return this.admitUnsolicited(type, length);
    const p = this.pending.get(id);
    if (!p)
      return id < this.nextId
        ? `a ${describeType(type)} frame for finished request ${id}`
        : `a ${describeType(type)} frame for unknown request ${id}`;
    if (type === 'Z') return length > MAX_ERROR_PAYLOAD ? `an error frame of ${length} bytes (at most ${MAX_ERROR_PAYLOAD})` : undefined;
    return p.admit(type, length);
  }

  private admitUnsolicited(type: string, length: number): string | undefined {
    if (type === 'H') {
      if (this.helloSeen) return 'a second hello frame';
      return length > MAX_HELLO_PAYLOAD ? `a hello frame of ${length} bytes (at most ${MAX_HELLO_PAYLOAD})` : undefined;
    }
    if (type === 'N') return length > MAX_NOTICE_PAYLOAD ? `a notice of ${length} bytes (at most ${MAX_NOTICE_PAYLOAD})` : undefined;
    return `a ${describeType(type)} frame outside any request`;
  }

  private dispatch(id: number, type: string, payload: Buffer): string | undefined {
    if (id === 0) return this.unsolicited(type, payload);
    const p = this.pending.get(id)!;
    if (type === 'Z') {
      const e = parseRunnerError(payload);
      if (typeof e === 'string') return e;
      this.pending.delete(id);
      p.reject(runnerError(e.code, e.message));
      return undefined;
    }
    const r = p.onFrame(type, payload);
    if (r === 'done') this.pending.delete(id);
    return typeof r === 'object' ? r.violation : undefined;
  }

  private unsolicited(type: string, payload: Buffer): string | undefined {
    if (type === 'H') {
      const pid = parseHello(payload);
      if (typeof pid === 'string') return pid;
      this.helloSeen = true;
      this.resolveReady(pid);
      return undefined;
    }
    const n = parseNotice(payload);
    if (typeof n === 'object') return n.violation;
    this.notices.push(n);
    if (this.notices.length > MAX_KEPT_NOTICES) this.notices.shift();
    return undefined;
  }
}
