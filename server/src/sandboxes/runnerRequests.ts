// The host -> runner half of af-runner's wire format, and what each request
// accepts in reply: request frames encoded (runnerFrames.ts decodes the
// other way), each reply frame checked against the request it answers, and
// the runner's error codes as SandboxError kinds. Pure: the client
// (runnerProtocol.ts) keeps the requests in flight.
import {
  describeType,
  FRAME_HEADER_BYTES,
  MAX_DONE_PAYLOAD,
  MAX_OUTPUT_CHUNK,
  parseDone,
  parseFileData,
  type DoneFrame,
} from './runnerFrames';
import { SandboxError } from './sandboxError';

export interface RunnerExecOptions {
  timeoutMs: number;
  /** Keep stderr apart from stdout (the toolkit API wants both); otherwise one interleaved stream. */
  separateStderr: boolean;
  /** Output beyond this many bytes is read and dropped inside the sandbox. */
  maxOutputBytes: number;
  onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
}

export type RunnerExecResult = DoneFrame;

/** What one request accepts in reply, and what it does with it. */
export interface ReplyHandler {
  /** Why a frame of this type and length is refused for this request, if it is ('Z' is checked before). */
  admit(type: string, length: number): string | undefined;
  /** Handles an admitted frame: 'more' while the request goes on, 'done' when it is complete, or a violation. */
  onFrame(type: string, payload: Buffer): 'more' | 'done' | { violation: string };
}

export function frameHeader(len: number, id: number, type: string): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32LE(len, 0);
  head.writeUInt32LE(id, 4);
  head.write(type, 8, 'latin1');
  return head;
}

/** 'X' payload before the command: u32 timeout in ms, u8 separate-stderr flag, u64 output cap. */
export function execHead(opts: RunnerExecOptions): Buffer {
  const head = Buffer.alloc(13);
  head.writeUInt32LE(Math.max(0, Math.min(opts.timeoutMs, 0xffffffff)), 0);
  head.writeUInt8(opts.separateStderr ? 1 : 0, 4);
  head.writeBigUInt64LE(BigInt(opts.maxOutputBytes), 5);
  return head;
}

/** A command's replies: output chunks within the cap, then its done frame. */
export function execReplies(opts: RunnerExecOptions, resolve: (r: RunnerExecResult) => void): ReplyHandler {
  // The runner counts stdout and stderr together against the cap; so do we.
  let output = 0;
  return {
    admit: (type, length) => {
      if (type === 'O' || type === 'E') {
        if (type === 'E' && !opts.separateStderr) return 'a stderr chunk for a command whose stderr goes to stdout';
        if (length === 0 || length > MAX_OUTPUT_CHUNK) return `an output chunk of ${length} bytes (1 to ${MAX_OUTPUT_CHUNK} allowed)`;
        if (output + length > opts.maxOutputBytes) return `more output than the command's cap of ${opts.maxOutputBytes} bytes`;
        return undefined;
      }
      if (type === 'D') return length > MAX_DONE_PAYLOAD ? `a done frame of ${length} bytes (at most ${MAX_DONE_PAYLOAD})` : undefined;
      return `a ${describeType(type)} frame for a command`;
    },
    onFrame: (type, payload) => {
      if (type !== 'D') {
        output += payload.length;
        opts.onOutput(type === 'O' ? 'stdout' : 'stderr', payload);
        return 'more';
      }
      const r = parseDone(payload);
      if (typeof r === 'string') return { violation: r };
      resolve(r);
      return 'done';
    },
  };
}

/** 'R' payload before the path: u64 the most bytes to read. */
export function readHead(maxBytes: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(maxBytes), 0);
  return head;
}

/** A file read's reply: one file data frame of at most the bytes asked for (and the truncated flag). */
export function readReplies(maxBytes: number, resolve: (r: { content: Buffer; truncated: boolean }) => void): ReplyHandler {
  return {
    admit: (type, length) => {
      if (type !== 'F') return `a ${describeType(type)} frame for a file read`;
      return length > maxBytes + 1 ? `file data of ${length - 1} bytes for a read of at most ${maxBytes}` : undefined;
    },
    onFrame: (_type, payload) => {
      const r = parseFileData(payload);
      if (typeof r === 'string') return { violation: r };
      resolve(r);
      return 'done';
    },
  };
}

/** The 'W' mode bit that makes the runner append to the file instead of replacing it. */
export const WRITE_APPEND = 0x8000_0000;

/** 'W' payload before the data: u32 mode (permission bits, and WRITE_APPEND), u32 path length, path. */
export function writePrefix(path: string, mode: number): Buffer {
  const p = Buffer.from(path);
  const head = Buffer.alloc(8 + p.length);
  head.writeUInt32LE(mode >>> 0, 0);
  head.writeUInt32LE(p.length, 4);
  p.copy(head, 8);
  return head;
}

/** A write's answer: an empty 'A'. */
export function acceptOk(resolve: () => void): ReplyHandler {
  return {
    admit: (type, length) => {
      if (type !== 'A') return `a ${describeType(type)} frame for a file write`;
      return length === 0 ? undefined : `an ok frame of ${length} bytes (empty expected)`;
    },
    onFrame: () => {
      resolve();
      return 'done';
    },
  };
}

/** A 'Z' frame's code as the SandboxError kind the server maps to its API. */
export function runnerError(code: number, message: string): SandboxError {
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
