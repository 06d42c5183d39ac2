// The runner -> host half of af-runner's wire format, decoded as untrusted
// input: whatever the sandbox wrote is checked here before the server acts on
// it. Pure: no streams, no timers; the client (runnerProtocol.ts) owns state.
//
// Frame: u32 payload length (LE), u32 request id (LE), u8 type, payload.
// A violation is returned as a sentence naming what was wrong; the decoder is
// dead after it (the stream cannot be resynchronised, so the session ends).

export const FRAME_HEADER_BYTES = 9;
/** af-runner reads its pipes 64 KiB at a time and sends each read as one chunk. */
export const MAX_OUTPUT_CHUNK = 64 * 1024;
/** i32 exit code, u8 flags, then the working directory (at most PATH_MAX). */
export const MAX_DONE_PAYLOAD = 5 + 4096;
/** u8 code, then a short message (strerror or the runner's own sentence). */
export const MAX_ERROR_PAYLOAD = 1 + 1024;
export const MAX_NOTICE_PAYLOAD = 1024;
/** A decimal pid. */
export const MAX_HELLO_PAYLOAD = 10;

/** Decides, from a header alone, whether a frame is wanted: its payload cap, or why it is refused. */
export interface FrameSink {
  /** Called as soon as a header is in, before any payload is buffered: a reason refuses the frame. */
  admit(id: number, type: string, length: number): string | undefined;
  /** Called with each whole admitted frame; a reason means its payload was malformed. */
  frame(id: number, type: string, payload: Buffer): string | undefined;
}

/**
 * Splits a byte stream into frames. Bytes are kept as a list of the chunks
 * that arrived (no concatenation per chunk); a payload is copied at most once,
 * when it spans chunks. Nothing larger than the admitted length is ever held.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private first = 0; // offset of unread bytes in chunks[0]
  private queued = 0;
  private header: { id: number; type: string; length: number } | undefined;
  private violation: string | undefined;

  constructor(private readonly sink: FrameSink) {}

  /** Bytes held for a frame that has not arrived whole. */
  get buffered(): number {
    return this.queued;
  }

  /** Feeds bytes. Returns the first violation found (and every later call returns it too). */
  push(chunk: Buffer): string | undefined {
    if (this.violation) return this.violation;
    if (chunk.length === 0) return undefined;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    for (;;) {
      if (!this.header) {
        if (this.queued < FRAME_HEADER_BYTES) return undefined;
        const h = this.take(FRAME_HEADER_BYTES);
        const length = h.readUInt32LE(0);
        const id = h.readUInt32LE(4);
        const type = String.fromCharCode(h[8]);
        const refused = this.sink.admit(id, type, length);
        if (refused) return this.fail(refused);
        this.header = { id, type, length };
      }
      if (this.queued < this.header.length) return undefined;
      const { id, type, length } = this.header;
      this.header = undefined;
      const bad = this.sink.frame(id, type, this.take(length));
      if (bad) return this.fail(bad);
    }
  }

  private fail(reason: string): string {
    this.violation = reason;
    this.chunks = [];
    this.queued = 0;
    return reason;
  }

  /** Removes n buffered bytes (n <= queued): a view when they lie in one chunk, else one copy. */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.queued -= n;
    const head = this.chunks[0];
    if (head.length - this.first >= n) {
      const out = head.subarray(this.first, this.first + n);
      this.first += n;
      if (this.first === head.length) this.dropFirst();
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0];
      const m = Math.min(n - filled, c.length - this.first);
      c.copy(out, filled, this.first, this.first + m);
      filled += m;
      this.first += m;
      if (this.first === c.length) this.dropFirst();
    }
    return out;
  }

  private dropFirst(): void {
    this.chunks.shift();
    this.first = 0;
  }
}

const EMPTY = Buffer.alloc(0);

export interface DoneFrame {
  exitCode: number;
  timedOut: boolean;
  truncated: boolean;
  killed: boolean;
  quotaExceeded: boolean;
  cwd: string;
}

const KNOWN_DONE_FLAGS = 1 | 2 | 4 | 8;

/**
 * 'D'. The working directory is decoded leniently (invalid UTF-8 becomes
 * U+FFFD): a user may cd into a folder whose name is not UTF-8, which is no
 * attack, and the server only reports the cwd (the runner keeps its own).
 * NUL bytes are refused: no path holds one.
 */
export function parseDone(payload: Buffer): DoneFrame | string {
  if (payload.length < 5) return `a done frame of ${payload.length} bytes (at least 5 expected)`;
  const flags = payload.readUInt8(4);
  if (flags & ~KNOWN_DONE_FLAGS) return `a done frame with unknown flags 0x${flags.toString(16)}`;
  const cwd = payload.subarray(5);
  if (cwd.includes(0)) return 'a done frame whose working directory holds a NUL byte';
  return {
    exitCode: payload.readInt32LE(0),
    timedOut: (flags & 1) !== 0,
    truncated: (flags & 2) !== 0,
    killed: (flags & 4) !== 0,
    quotaExceeded: (flags & 8) !== 0,
    cwd: cwd.toString('utf8'),
  };
}

/** 'F': u8 truncated (0 or 1), then the bytes. */
export function parseFileData(payload: Buffer): { content: Buffer; truncated: boolean } | string {
  if (payload.length < 1) return 'an empty file data frame (the truncated byte is missing)';
  const t = payload.readUInt8(0);
  if (t > 1) return `a file data frame with truncated byte ${t}`;
  return { truncated: t === 1, content: payload.subarray(1) };
}

/** 'Z': u8 code, then a message, which must be UTF-8 (the runner only sends ASCII). */
export function parseRunnerError(payload: Buffer): { code: number; message: string } | string {
  if (payload.length < 1) return 'an empty error frame (the code byte is missing)';
  const message = strictText(payload.subarray(1));
  if (message === undefined) return 'an error frame whose message is not UTF-8';
  return { code: payload.readUInt8(0), message };
}

/** 'H': the runner's pid in decimal, nothing else. */
export function parseHello(payload: Buffer): number | string {
  const s = payload.toString('latin1');
  if (!/^[1-9][0-9]{0,9}$/.test(s) || Number(s) > 0x7fffffff) return 'a hello frame that is not a pid';
  return Number(s);
}

/** 'N': a UTF-8 message (the runner's notices are ASCII, or the message the server itself sent with 'Q'). */
export function parseNotice(payload: Buffer): string | { violation: string } {
  const s = strictText(payload);
  return s === undefined ? { violation: 'a notice that is not UTF-8' } : s;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Messages must be valid UTF-8: the runner writes ASCII, so anything else was forged. */
function strictText(b: Buffer): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}

/** A frame type byte as people read it in an error message. */
export function describeType(type: string): string {
  const c = type.charCodeAt(0);
  return c >= 0x21 && c < 0x7f ? `'${type}'` : `0x${c.toString(16).padStart(2, '0')}`;
}
