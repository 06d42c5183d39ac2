// The runner's frames are attacker input: the decoder and client must reject
// anything malformed with a PROTOCOL error and never let a throw escape,
// while valid streams, however they are split, decode exactly.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { FrameDecoder } from '../../server/src/sandboxes/runnerFrames';
import { RunnerClient, type RunnerExecResult } from '../../server/src/sandboxes/runnerProtocol';
import { SandboxError } from '../../server/src/sandboxes/sandboxError';

/** mulberry32: small, fast and deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function frame(id: number, type: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUInt32LE(payload.length, 0);
  h.writeUInt32LE(id, 4);
  h.write(type, 8, 'latin1');
  return Buffer.concat([h, payload]);
}

function done(code: number, flags: number, cwd: string): Buffer {
  const p = Buffer.alloc(5);
  p.writeInt32LE(code, 0);
  p.writeUInt8(flags, 4);
  return Buffer.concat([p, Buffer.from(cwd)]);
}

/** A client on in-memory ends: what the server would hold for a real runner's pipes. */
function harness() {
  const out = new EventEmitter();
  const sent: Buffer[] = [];
  const input = Object.assign(new EventEmitter(), { write: (b: Buffer) => sent.push(b) > 0 });
  const client = new RunnerClient(input as unknown as Writable, out as unknown as Readable);
  const violations: SandboxError[] = [];
  client.onProtocolError((e) => violations.push(e));
  let maxBuffered = 0;
  const feed = (b: Buffer) => {
    out.emit('data', b);
    maxBuffered = Math.max(maxBuffered, client.bufferedBytes);
  };
  return { client, feed, end: () => out.emit('close'), violations, sent, maxBuffered: () => maxBuffered };
}

function feedSplit(feed: (b: Buffer) => void, data: Buffer, r: () => number): void {
  let off = 0;
  while (off < data.length) {
    const n = r() < 0.3 ? 1 + Math.floor(r() * 4) : 1 + Math.floor(r() * 200);
    feed(data.subarray(off, off + n));
    off += n;
  }
}

interface Expected {
  promise: Promise<unknown>;
  want: unknown;
  settled?: { ok: boolean; value: unknown };
}

/** A random valid conversation: requests issued on the client, and the runner's answers as one byte stream. */
function validConversation(r: () => number) {
  const h = harness();
  const frames: Buffer[] = [frame(0, 'H', Buffer.from(String(1 + Math.floor(r() * 100000))))];
  const expected: Expected[] = [];
  const requests = 1 + Math.floor(r() * 4);
  const answers: Buffer[][] = [];
  for (let i = 0; i < requests; i++) {
    const kind = r();
    const id = i + 1;
    const seq: Buffer[] = [];
    if (kind < 0.5) {
      const cap = 1 + Math.floor(r() * 600);
      const separate = r() < 0.5;
      const got = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
      const x = h.client.exec('true', {
        timeoutMs: 1000,
        separateStderr: separate,
        maxOutputBytes: cap,
        onOutput: (s, c) => got[s].push(Buffer.from(c)),
      });
      assert.equal(x.id, id);
      const want = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
      let left = cap;
      while (left > 0 && r() < 0.6) {
        const n = 1 + Math.floor(r() * Math.min(left, 150));
        const chunk = Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
        const stream = separate && r() < 0.5 ? 'stderr' : 'stdout';
        want[stream].push(chunk);
        seq.push(frame(id, stream === 'stdout' ? 'O' : 'E', chunk));
        left -= n;
      }
      if (r() < 0.1) {
        seq.push(frame(id, 'Z', Buffer.concat([Buffer.from([5]), Buffer.from('too many')])));
        expected.push({ promise: x.result, want: { error: 'LIMIT' } });
      } else {
        const res: RunnerExecResult = {
          exitCode: Math.floor(r() * 512) - 256,
          timedOut: r() < 0.2,
          truncated: r() < 0.2,
          killed: r() < 0.2,
          quotaExceeded: r() < 0.2,
          cwd: `/workspace/${'dé'.repeat(Math.floor(r() * 5))}`,
        };
        const flags = (res.timedOut ? 1 : 0) | (res.truncated ? 2 : 0) | (res.killed ? 4 : 0) | (res.quotaExceeded ? 8 : 0);
        seq.push(frame(id, 'D', done(res.exitCode, flags, res.cwd)));
        expected.push({
          promise: x.result.then((v) => ({ v, got: { stdout: Buffer.concat(got.stdout), stderr: Buffer.concat(got.stderr) } })),
          want: { v: res, got: { stdout: Buffer.concat(want.stdout), stderr: Buffer.concat(want.stderr) } },
        });
      }
    } else if (kind < 0.8) {
      const max = Math.floor(r() * 300);
      const p = h.client.readFile('/workspace/f', max);
      const content = Buffer.from(Array.from({ length: Math.floor(r() * (max + 1)) }, () => Math.floor(r() * 256)));
      const truncated = r() < 0.5;
      seq.push(frame(id, 'F', Buffer.concat([Buffer.from([truncated ? 1 : 0]), content])));
      expected.push({ promise: p, want: { truncated, content } });
    } else {
      const p = h.client.writeFile('/workspace/f', Buffer.from('x'));
      seq.push(frame(id, 'A'));
      expected.push({ promise: p.then(() => 'ok'), want: 'ok' });
    }
    answers.push(seq);
  }
  // Interleave the answers as a runner serving them concurrently would, each request's frames in order.
  const queues = answers.map((a) => [...a]);
  while (queues.some((q) => q.length)) {
    if (r() < 0.1) frames.push(frame(0, 'N', Buffer.from('notice é')));
    const live = queues.filter((q) => q.length);
    frames.push(live[Math.floor(r() * live.length)].shift()!);
  }
  for (const e of expected) {
    e.promise.then(
      (value) => (e.settled = { ok: true, value }),
      (err: unknown) => (e.settled = { ok: false, value: err }),
    );
  }
  return { h, stream: Buffer.concat(frames), expected };
}

function mutate(data: Buffer, r: () => number): Buffer {
  let b = Buffer.from(data);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const what = r();
    const at = Math.floor(r() * Math.max(1, b.length));
    if (what < 0.3 && b.length) b[at] = Math.floor(r() * 256);
    else if (what < 0.45) b = b.subarray(0, at);
    else if (what < 0.6)
      b = Buffer.concat([
        b.subarray(0, at),
        Buffer.from(Array.from({ length: 1 + Math.floor(r() * 12) }, () => Math.floor(r() * 256))),
        b.subarray(at),
      ]);
    else if (what < 0.75) b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 12)))]);
    else if (what < 0.9 && b.length >= 4) {
      const lenAt = Math.min(at, b.length - 4);
      b.writeUInt32LE([0, 0xffffffff, 0x7fffffff, 65537, 5000, Math.floor(r() * 70000)][Math.floor(r() * 6)], lenAt);
    } else b = Buffer.concat([b, b.subarray(at)]);
  }
  return b;
}

/** The most a client may hold waiting for a frame in these conversations: the largest admitted frame. */
const MAX_ADMITTED = 64 * 1024 + 9;

describe('runner frames (decoder and client under fuzzing)', function () {
  this.timeout(60_000);

  it('decodesValidStreamsExactlyAcrossRandomSplits', async () => {
    const r = rng(1);
    for (let i = 0; i < 20_000; i++) {
      const { h, stream, expected } = validConversation(r);
      feedSplit(h.feed, stream, r);
      await Promise.resolve();
      await Promise.resolve();
      await new Promise(setImmediate);
      assert.deepEqual(h.violations, [], `valid stream ${i} was refused`);
      for (const e of expected) {
        assert.ok(e.settled, `request of stream ${i} did not complete`);
        if ((e.want as { error?: string }).error) assert.equal((e.settled.value as SandboxError).kind, (e.want as { error: string }).error);
        else assert.deepEqual(e.settled.value, e.want, `stream ${i}`);
      }
      assert.equal(h.client.bufferedBytes, 0);
    }
  });

  it('survivesMutatedTruncatedAndRandomStreamsWithoutThrowing', async () => {
    const r = rng(2);
    let refused = 0;
    let total = 0;
    for (let i = 0; i < 90_000; i++) {
      const kind = i % 3;
      const { h, stream, expected } = validConversation(r);
      const data =
        kind === 0
          ? mutate(stream, r)
          : kind === 1
            ? stream.subarray(0, Math.floor(r() * stream.length))
            : Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256)));
      // A throw out of feed() is a throw out of the stream's 'data' handler: it would take the server down.
      feedSplit(h.feed, data, r);
      if (r() < 0.5) h.end();
      total++;
      assert.ok(h.violations.length <= 1, 'a protocol error is reported once');
      assert.ok(h.maxBuffered() <= MAX_ADMITTED, `stream ${i} made the client hold ${h.maxBuffered()} bytes`);
      if (h.violations.length) {
        refused++;
        assert.match(h.violations[0].message, /^the sandbox broke the runner protocol: /);
        assert.equal(h.violations[0].kind, 'PROTOCOL');
        assert.ok(h.client.closed);
        await new Promise(setImmediate);
        for (const e of expected) assert.ok(e.settled, 'every pending request settles once the stream is refused');
      }
    }
    assert.ok(total >= 90_000);
    assert.ok(refused > 30_000, `only ${refused} of ${total} broken streams were refused`);
  });

  it('rejectsAnEmptyDoneFrameAsAProtocolError', async () => {
    const h = harness();
    h.feed(frame(0, 'H', Buffer.from('7')));
    const x = h.client.exec('x', { timeoutMs: 0, separateStderr: false, maxOutputBytes: 10, onOutput: () => undefined });
    h.feed(frame(x.id, 'D'));
    await assert.rejects(x.result, (e: SandboxError) => e.kind === 'PROTOCOL' && /done frame of 0 bytes/.test(e.message));
    assert.equal(h.violations.length, 1);
  });

  it('refusesAnOversizedFrameFromItsHeaderAlone', () => {
    const h = harness();
    const x = h.client.exec('x', { timeoutMs: 0, separateStderr: false, maxOutputBytes: 1 << 30, onOutput: () => undefined });
    x.result.catch(() => undefined);
    const head = Buffer.alloc(9);
    head.writeUInt32LE(100 * 1024 * 1024, 0);
    head.writeUInt32LE(x.id, 4);
    head.write('O', 8);
    h.feed(head);
    assert.match(h.violations[0]?.message ?? '', /output chunk of 104857600 bytes/);
    h.feed(Buffer.alloc(1 << 20));
    assert.equal(h.client.bufferedBytes, 0, 'nothing after a refused header is kept');
  });

  it('refusesOutputBeyondTheExecCapCountedAcrossChunks', async () => {
    const h = harness();
    const x = h.client.exec('x', { timeoutMs: 0, separateStderr: true, maxOutputBytes: 100, onOutput: () => undefined });
    h.feed(Buffer.concat([frame(x.id, 'O', Buffer.alloc(60)), frame(x.id, 'E', Buffer.alloc(41))]));
    await assert.rejects(x.result, /more output than the command's cap of 100 bytes/);
  });

  it('refusesUnknownFinishedAndMistypedFrames', async () => {
    const cases: [string, (h: ReturnType<typeof harness>, id: number) => Buffer, RegExp][] = [
      ['unknown id', (_h, id) => frame(id + 5, 'D', done(0, 0, '/')), /unknown request 6/],
      ['finished id', (_h, id) => Buffer.concat([frame(id, 'D', done(0, 0, '/')), frame(id, 'O', Buffer.from('x'))]), /finished request 1/],
      ['wrong type', (_h, id) => frame(id, 'F', Buffer.from([0])), /'F' frame for a command/],
      ['bad type byte', (_h, id) => frame(id, '\u0001', Buffer.from([0])), /0x01 frame for a command/],
      ['second hello', () => Buffer.concat([frame(0, 'H', Buffer.from('1')), frame(0, 'H', Buffer.from('2'))]), /second hello/],
      ['hello not a pid', () => frame(0, 'H', Buffer.from('1a')), /hello frame that is not a pid/],
      ['notice not utf-8', () => frame(0, 'N', Buffer.from([0xff, 0xfe])), /notice that is not UTF-8/],
      ['big notice', () => frame(0, 'N', Buffer.alloc(5000, 0x61)), /notice of 5000 bytes/],
      ['unknown flags', (_h, id) => frame(id, 'D', done(0, 0x40, '/')), /unknown flags 0x40/],
      ['NUL in cwd', (_h, id) => frame(id, 'D', done(0, 0, '/work\0space')), /NUL byte/],
      ['error code only for requests', () => frame(0, 'Z', Buffer.from([1])), /'Z' frame outside any request/],
    ];
    for (const [name, bytes, re] of cases) {
      const h = harness();
      const x = h.client.exec('x', { timeoutMs: 0, separateStderr: false, maxOutputBytes: 100, onOutput: () => undefined });
      x.result.catch(() => undefined);
      h.feed(bytes(h, x.id));
      assert.equal(h.violations.length, 1, name);
      assert.match(h.violations[0].message, re, name);
    }
  });

  it('refusesFileDataBeyondTheRequestedMaximum', async () => {
    const h = harness();
    const p = h.client.readFile('/workspace/a', 10);
    h.feed(frame(1, 'F', Buffer.alloc(12)));
    await assert.rejects(p, /file data of 11 bytes for a read of at most 10/);
  });

  it('reportsAStreamThatEndsInsideAFrame', async () => {
    const h = harness();
    const x = h.client.exec('x', { timeoutMs: 0, separateStderr: false, maxOutputBytes: 100, onOutput: () => undefined });
    h.feed(frame(x.id, 'O', Buffer.alloc(50)).subarray(0, 20));
    h.end();
    await assert.rejects(x.result, /ended in the middle of a frame/);
  });

  it('writesAFileAsOneFramePerChunkEachAcknowledgedFirstThenAppended', async () => {
    const h = harness();
    async function* chunks() {
      yield Buffer.from('abc');
      yield Buffer.from('defg');
    }
    const w = h.client.writeFileChunked('/workspace/f', chunks(), 0o600);
    const settle = async () => {
      for (let i = 0; i < 5; i++) await new Promise(setImmediate);
    };
    await settle();
    const framesOnWire = () => {
      const wire = Buffer.concat(h.sent);
      const out: { id: number; type: string; mode: number; data: string }[] = [];
      for (let off = 0; off < wire.length;) {
        const len = wire.readUInt32LE(off);
        const p = wire.subarray(off + 9, off + 9 + len);
        const pathLen = p.readUInt32LE(4);
        out.push({
          id: wire.readUInt32LE(off + 4),
          type: String.fromCharCode(wire[off + 8]),
          mode: p.readUInt32LE(0),
          data: p.subarray(8 + pathLen).toString(),
        });
        off += 9 + len;
      }
      return out;
    };
    assert.deepEqual(framesOnWire(), [{ id: 1, type: 'W', mode: 0o600, data: 'abc' }], "the next chunk waits for the first one's ack");
    h.feed(frame(1, 'A'));
    await settle();
    assert.deepEqual(framesOnWire()[1], { id: 2, type: 'W', mode: (0x8000_0000 | 0o600) >>> 0, data: 'defg' }, 'later chunks append');
    h.feed(frame(2, 'A'));
    await w;
  });

  it('stopsAChunkedWriteAtTheFirstRefusedChunk', async () => {
    const h = harness();
    async function* chunks() {
      yield Buffer.from('abc');
      yield Buffer.from('defg');
    }
    const w = h.client.writeFileChunked('/workspace/f', chunks());
    await new Promise(setImmediate);
    h.feed(frame(1, 'Z', Buffer.concat([Buffer.from([6]), Buffer.from('File too large')])));
    await assert.rejects(w);
    await new Promise(setImmediate);
    assert.equal(Buffer.concat(h.sent).readUInt32LE(4), 1);
    assert.equal(Buffer.concat(h.sent).length, 9 + 8 + '/workspace/f'.length + 3, 'nothing more is sent');
  });

  it('decodesFramesSplitAtEveryByteWithoutQuadraticCopies', () => {
    const frames = Array.from({ length: 2000 }, (_, i) => frame(i, 'O', Buffer.alloc(64 * 1024, i & 0xff)));
    const data = Buffer.concat(frames);
    const seen: number[] = [];
    const d = new FrameDecoder({ admit: () => undefined, frame: (id, _t, p) => (seen.push(id), p[0] === (id & 0xff) ? undefined : 'bad') });
    const started = performance.now();
    for (let off = 0; off < data.length; off += 4096) assert.equal(d.push(data.subarray(off, off + 4096)), undefined);
    const ms = performance.now() - started;
    assert.equal(seen.length, 2000);
    // 128 MiB in 4 KiB chunks: linear work is well under a second; the old concat-per-chunk was quadratic per frame.
    assert.ok(ms < 3000, `decoding took ${ms} ms`);
  });
});
