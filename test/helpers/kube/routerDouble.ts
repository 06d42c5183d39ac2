// agent-sandbox's sandbox router, doubled: an HTTP proxy on loopback that
// routes each request by its X-Sandbox-ID (the Sandbox's name),
// X-Sandbox-Namespace (default "default") and X-Sandbox-Port (default 8888)
// headers, as the router in agent-sandbox's Python client folder does: the
// same checks and answers ({"detail": ...}: 400 for a missing or malformed
// header, 401 without its bearer token when it has one, 502 when the sandbox
// cannot be reached), the routing and auth headers and Host not passed on,
// plain requests and WebSocket upgrades proxied. Where the real router
// resolves `<id>.<namespace>.svc.cluster.local` (the Sandbox's headless
// Service), the double reads the Sandbox's pod IP from the API double.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { KubeApiServer } from './kubeApiServer';

export interface RouterOptions {
  api: KubeApiServer;
  /** ROUTER_AUTH_TOKEN: requests must carry `Bearer <token>`; unset: the router allows anyone (ALLOW_UNAUTHENTICATED_ROUTER). */
  token?: string;
}

export interface RoutedRequest {
  sandbox: string;
  namespace: string;
  port: number;
  method: string;
  path: string;
  websocket: boolean;
}

const ROUTING = ['x-sandbox-id', 'x-sandbox-namespace', 'x-sandbox-port', 'x-sandbox-pod-ip'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

class RouteError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export class RouterDouble {
  private server: Server | undefined;
  /** Every request routed to a sandbox, in order (tests look at the headers' effect). */
  readonly routed: RoutedRequest[] = [];
  private readonly sockets = new Set<Socket>();

  constructor(private readonly o: RouterOptions) {}

  async start(): Promise<string> {
    const server = createServer((req, res) => void this.http(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  /** The router's checks, in its order, then the target: the Sandbox's pod IP and the port. */
  private route(req: IncomingMessage, websocket: boolean): { host: string; port: number; id: string } {
    if (this.o.token !== undefined) {
      const auth = req.headers.authorization;
      if (!auth?.startsWith('Bearer ')) throw new RouteError(401, 'Missing or invalid Authorization header.');
      if (auth.slice('Bearer '.length).trim() !== this.o.token) throw new RouteError(401, 'Invalid token.');
    }
    const id = header(req, 'x-sandbox-id');
    if (!id) throw new RouteError(400, 'X-Sandbox-ID header is required.');
    if (!DNS_LABEL.test(id)) throw new RouteError(400, 'Invalid sandbox ID format.');
    const namespace = header(req, 'x-sandbox-namespace') ?? 'default';
    if (!/^[A-Za-z0-9]+$/.test(namespace.replaceAll('-', ''))) throw new RouteError(400, 'Invalid namespace format.');
    const portText = header(req, 'x-sandbox-port') ?? '8888';
    const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= 1 && port <= 65535)) throw new RouteError(400, 'Invalid port format.');
    const host = this.podIpOf(namespace, id);
    if (!host) throw new RouteError(502, `Could not connect to the backend sandbox: ${id}`);
    this.routed.push({ sandbox: id, namespace, port, method: req.method ?? 'GET', path: req.url ?? '/', websocket });
    return { host, port, id };
  }

  /** What `<id>.<namespace>.svc` resolves to: the Sandbox's (headless Service's) pod IP. */
  private podIpOf(namespace: string, name: string): string | undefined {
    try {
      const sandbox = this.o.api.store.get(this.o.api.kind('Sandbox'), namespace, name);
      return (sandbox.status as { podIPs?: string[] } | undefined)?.podIPs?.[0];
    } catch {
      return undefined;
    }
  }

  private async http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === '/healthz' && req.method === 'GET') return json(res, 200, { status: 'ok' });
    let target: ReturnType<RouterDouble['route']>;
    try {
      target = this.route(req, false);
    } catch (e) {
      const r = e instanceof RouteError ? e : new RouteError(500, 'An internal error occurred in the proxy.');
      return json(res, r.status, { detail: r.detail });
    }
    const up = request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: forwarded(req) }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.once('error', () => {
      if (!res.headersSent) json(res, 502, { detail: `Could not connect to the backend sandbox: ${target.id}` });
      else res.destroy();
    });
    req.pipe(up);
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    let target: ReturnType<RouterDouble['route']>;
    try {
      target = this.route(req, true);
    } catch (e) {
      const r = e instanceof RouteError ? e : new RouteError(500, 'An internal error occurred in the proxy.');
      const body = JSON.stringify({ detail: r.detail });
      socket.end(
        `HTTP/1.1 ${r.status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    // The real router terminates the WebSocket and relays each message; passing the upgraded
    // bytes through unchanged delivers the same messages.
    const up = connect({ host: target.host, port: target.port });
    const close = () => {
      socket.destroy();
      up.destroy();
    };
    up.once('connect', () => {
      const headers = Object.entries(forwarded(req)).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]));
      up.write(
        `GET ${req.url} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`,
      );
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.once('error', () => {
      if (socket.writable && up.bytesRead === 0) {
        const body = JSON.stringify({ detail: `Could not connect to the backend sandbox: ${target.id}` });
        socket.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      } else close();
    });
    socket.on('error', close);
    up.once('close', close);
    socket.once('close', close);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The request's headers without Host, the routing headers and the router's own Authorization. */
function forwarded(req: IncomingMessage): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || k === 'host' || k === 'authorization' || ROUTING.includes(k)) continue;
    out[k] = v;
  }
  return out;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts a router double over the API double's Sandboxes. */
export async function startRouterDouble(o: RouterOptions): Promise<{ router: RouterDouble; url: string }> {
  const router = new RouterDouble(o);
  return { router, url: await router.start() };
}
