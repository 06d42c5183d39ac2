// The way to a pod's runner through agent-sandbox's router, for clusters
// where the server does not reach pod IPs. The router picks the pod by the
// X-Sandbox-ID (the Sandbox's name), X-Sandbox-Namespace and X-Sandbox-Port
// headers and proxies HTTP and WebSockets, not raw TCP: so the runner's byte
// stream rides binary WebSocket messages to the sandbox image's runtime API,
// which hands them to af-runner (server/deploy/images/runtime_api.py). The
// result is a plain Duplex: the runner protocol above it is unchanged.
import { randomBytes, createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { SandboxError } from '../sandboxError';

/** Where the sandbox image's runtime API bridges a WebSocket to af-runner. */
export const RUNNER_BRIDGE_PATH = '/astraforge/runner';
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_MESSAGE = 256 * 1024 * 1024;

export interface RouterTarget {
  /** The router's base URL (http or https). */
  url: string;
  /** Sent as `Authorization: Bearer` when the router wants one (its ROUTER_AUTH_TOKEN). */
  token?: string;
  sandbox: string;
  namespace: string;
  /** The pod port the router connects to: the runtime API's. */
  port: number;
}

function frame(opcode: number, payload: Buffer): Buffer {
  // Client frames are masked (RFC 6455 5.3).
  const mask = randomBytes(4);
  const n = payload.length;
  const head = n < 126 ? Buffer.alloc(2) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (n < 126) head[1] = 0x80 | n;
  else if (n < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  const body = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) body[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

/** A WebSocket's binary stream as a Duplex: writes become messages, messages become reads. */
class WebSocketStream extends Duplex {
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(
    private readonly socket: Socket,
    head: Buffer,
  ) {
    super();
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.once('end', () => this.push(null));
    socket.once('close', () => this.destroy());
    socket.on('error', (e) => this.destroy(e));
    if (head.length) this.receive(head);
  }

  private receive(d: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    for (;;) {
      const p = this.pending;
      if (p.length < 2) return;
      let n = p[1] & 0x7f;
      let at = 2;
      if (n === 126) {
        if (p.length < 4) return;
        n = p.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (p.length < 10) return;
        n = Number(p.readBigUInt64BE(2));
        at = 10;
      }
      if (n > MAX_MESSAGE) return void this.destroy(new Error('the router sent a frame too large'));
      const masked = (p[1] & 0x80) !== 0;
      const start = at + (masked ? 4 : 0);
      if (p.length < start + n) return;
      let payload = p.subarray(start, start + n);
      if (masked) {
        const mask = p.subarray(at, at + 4);
        payload = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
      }
      this.pending = p.subarray(start + n);
      const opcode = p[0] & 0x0f;
      if (opcode === 0x8) {
        this.push(null);
        this.socket.end();
        return;
      }
      if (opcode === 0x9) this.socket.write(frame(0xa, Buffer.from(payload)));
      else if (opcode <= 0x2) this.push(Buffer.from(payload));
    }
  }

  override _read(): void {
    /* data is pushed as it arrives */
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    if (this.ended) return done(new Error('the router tunnel is closed'));
    this.socket.write(frame(0x2, chunk), (e) => done(e ?? null));
  }

  override _final(done: (e?: Error | null) => void): void {
    this.ended = true;
    const code = Buffer.alloc(2);
    code.writeUInt16BE(1000);
    this.socket.end(frame(0x8, code), () => done());
  }

  override _destroy(err: Error | null, done: (e: Error | null) => void): void {
    this.ended = true;
    this.socket.destroy();
    done(err);
  }
}

/** Opens the tunnel, or fails with the router's own answer (its 400/401/502 detail). */
export function openRouterTunnel(t: RouterTarget, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const url = new URL(RUNNER_BRIDGE_PATH, t.url.endsWith('/') ? t.url : `${t.url}/`);
    const key = randomBytes(16).toString('base64');
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, {
      method: 'GET',
      timeout: timeoutMs,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': key,
        'X-Sandbox-ID': t.sandbox,
        'X-Sandbox-Namespace': t.namespace,
        'X-Sandbox-Port': String(t.port),
        ...(t.token ? { Authorization: `Bearer ${t.token}` } : {}),
      },
    });
    req.once('timeout', () => req.destroy(new Error(`the router at ${t.url} did not answer in time`)));
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString().slice(0, 500)));
      res.once('end', () => {
        const why = `${res.statusCode}: ${detailOf(body)}`;
        // A refusal (a bad header, a wrong token) stays one; a 5xx may be a pod not reachable yet.
        const status = res.statusCode ?? 0;
        if (status >= 400 && status < 500)
          reject(new SandboxError('START_FAILED', `the router at ${t.url} refused the tunnel to Sandbox "${t.sandbox}" (${why})`));
        else reject(new Error(`the router answered ${why}`));
      });
    });
    req.once('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      const expected = createHash('sha1')
        .update(key + WS_GUID)
        .digest('base64');
      if (res.headers['sec-websocket-accept'] !== expected) {
        socket.destroy();
        return reject(new Error('the router upgraded without the WebSocket handshake'));
      }
      resolve(new WebSocketStream(socket, head));
    });
    req.end();
  });
}

function detailOf(body: string): string {
  try {
    const j = JSON.parse(body) as { detail?: unknown; message?: unknown };
    return String(j.detail ?? j.message ?? body);
  } catch {
    return body.trim() || '(no body)';
  }
}
