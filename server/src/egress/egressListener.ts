// One sandbox's way out: an HTTP proxy on a unix socket of its own (so every
// connection is known to be that sandbox's), enforcing its policy. CONNECT
// tunnels (HTTPS, passed through, never decrypted) and plain HTTP requests in
// absolute form are served; for each, the name is checked against the policy,
// looked up once, every address checked (addressCheck.ts), and the connection
// made to the address that passed: a DNS answer that changes afterwards
// cannot move it. Limits: connections at once, bytes per sandbox (a run's),
// idle and total time per connection.
import { chmodSync, chownSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { NetworkUsage, SessionNetwork } from '@astraforge/contract/networkPolicy';
import { addressRefusal, type AddressPolicy } from './addressCheck';
import type { NameResolver } from './nameResolver';
import { decide, describePolicy, type EffectivePolicy } from './networkPolicy';
import { normalizeHost } from './networkRules';

export interface EgressLimits {
  /** Connections open at once through one sandbox's proxy. */
  maxConnections: number;
  /** Bytes both ways through one sandbox's proxy (a run's whole allowance). */
  maxBytes: number;
  idleTimeoutMs: number;
  maxConnectionMs: number;
  connectTimeoutMs: number;
}

export interface AllowedConnection {
  host: string;
  port: number;
  rule: string;
  address: string;
}

export interface BlockedConnection {
  host: string;
  port: number;
  rule: string;
  reason: string;
}

/** Who hears of a sandbox's traffic (a run turns it into events and usage). */
export interface EgressObserver {
  /** The first allowed connection to each host:port. */
  allowed(c: AllowedConnection): void;
  /** Every refusal (up to MAX_BLOCKED_REPORTS per sandbox). */
  blocked(c: BlockedConnection): void;
  /** The totals, after each connection ends. */
  usage(u: NetworkUsage): void;
}

export interface ListenerOptions {
  socketPath: string;
  policy: EffectivePolicy;
  addresses: AddressPolicy;
  resolver: NameResolver;
  limits: EgressLimits;
  /** The sandbox's host uid: the only one that may connect (when the server can chown). */
  ownerUid: number;
  log: (obj: Record<string, unknown>, msg: string) => void;
}

const MAX_BLOCKED_KEPT = 20;
/** A sandbox that keeps trying hosts it may not reach fills no run log: refusals past this are only counted. */
const MAX_BLOCKED_REPORTS = 500;
/** Hosts reported (and remembered for once-per-host) per sandbox: random names under a wildcard cannot grow it without end. */
const MAX_ALLOWED_REMEMBERED = 10_000;
const MAX_ALLOWED_SHOWN = 200;
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

type Admission = { ok: true; host: string; address: string } | { ok: false; status: number; blocked: BlockedConnection };

export class EgressListener {
  private server?: Server;
  private readonly clients = new Set<Socket>();
  private readonly upstreams = new Set<Socket>();
  private readonly allowedHosts = new Set<string>();
  /** Connections being dialled: they count toward the limit before they are up. */
  private dialing = 0;
  /** Lookups under way: they count too, so a sandbox cannot pile them up. */
  private resolving = 0;
  private readonly blockedKept: SessionNetwork['blocked'] = [];
  /** Bytes of connections that ended, connections made, refusals; live connections are added by usage(). */
  private readonly totals: NetworkUsage = { bytes_sent: 0, bytes_received: 0, connections: 0, blocked: 0 };
  private limitTimer?: NodeJS.Timeout;
  private observer?: EgressObserver;

  /** The policy in force: set at the start, changed by a run's follow-up. */
  private policy: EffectivePolicy;

  constructor(private readonly opts: ListenerOptions) {
    this.policy = opts.policy;
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  /** The policy for connections from now on (those open stay). */
  setPolicy(policy: EffectivePolicy): void {
    this.policy = policy;
  }

  /** Who hears of this sandbox's traffic from now on (a run's follow-ups keep the same sandbox). */
  observe(observer: EgressObserver | undefined): void {
    this.observer = observer;
  }

  async start(): Promise<void> {
    const server = createServer({ requestTimeout: 0 });
    server.on('connection', (socket: Socket) => {
      this.clients.add(socket);
      socket.once('close', () => this.clients.delete(socket));
    });
    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.tunnel(req, socket as Socket, head));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.forward(req, res));
    rmSync(this.opts.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.socketPath, () => resolve());
    });
    try {
      // Only the sandbox's own uid may use its proxy; a server not running as root cannot hand it over.
      chownSync(this.opts.socketPath, this.opts.ownerUid, this.opts.ownerUid);
      chmodSync(this.opts.socketPath, 0o600);
    } catch {
      chmodSync(this.opts.socketPath, 0o666);
    }
    this.server = server;
  }

  async close(): Promise<void> {
    clearInterval(this.limitTimer);
    for (const s of [...this.clients, ...this.upstreams]) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(this.opts.socketPath, { force: true });
  }

  info(): SessionNetwork {
    return {
      ...describePolicy(this.policy),
      usage: this.usage(),
      allowed_hosts: [...this.allowedHosts].slice(0, MAX_ALLOWED_SHOWN),
      blocked: this.blockedKept.map((b) => ({ ...b })),
    };
  }

  /** The name check, one lookup, the address check, and the limits. */
  private async admit(rawHost: string, port: number): Promise<Admission> {
    const host = normalizeHost(rawHost);
    const refuse = (rule: string, reason: string, status = 403): Admission => ({
      ok: false,
      status,
      blocked: { host, port, rule, reason },
    });
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535)
      return refuse('invalid-target', `not a host and port: ${rawHost}:${port}`, 400);
    const decision = decide(this.policy, host, port);
    if (!decision.allowed) return refuse(decision.rule, decision.reason);
    const { limits } = this.opts;
    const used = this.usage();
    if (used.bytes_sent + used.bytes_received >= limits.maxBytes)
      return refuse('limit:bytes', `this sandbox used its ${limits.maxBytes} bytes of network`, 429);
    if (this.upstreams.size + this.dialing + this.resolving >= limits.maxConnections)
      return refuse('limit:connections', `this sandbox has ${limits.maxConnections} connections open already`, 429);
    let addresses: string[];
    this.resolving++;
    try {
      addresses = isIP(host) ? [host] : await this.opts.resolver.lookup(host);
    } catch (e) {
      return refuse('resolve-failed', `cannot resolve ${host}: ${(e as Error).message}`, 502);
    } finally {
      this.resolving--;
    }
    // A private endpoint needs an allow entry naming it: "open" reaches public addresses only.
    const addressPolicy = decision.rule === 'open' ? { ...this.opts.addresses, allowPrivate: new Set<string>() } : this.opts.addresses;
    let firstRefusal: { category: string; reason: string } | undefined;
    for (const address of addresses) {
      const refusal = addressRefusal(address, port, addressPolicy);
      if (!refusal) {
        this.noteAllowed({ host, port, rule: decision.rule, address });
        return { ok: true, host, address };
      }
      firstRefusal ??= refusal;
    }
    const via = isIP(host) ? '' : `${host} resolves to ${addresses.join(', ')}: `;
    return refuse(firstRefusal ? `${firstRefusal.category}-address` : 'resolve-failed', `${via}${firstRefusal?.reason ?? 'no address'}`);
  }

  /** CONNECT host:port: a tunnel to the checked address, bytes passed through untouched. */
  private async tunnel(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => undefined);
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? '');
    const admission = m ? await this.admit(m[1]!, Number(m[2])) : await this.admit(req.url ?? '', 0);
    if (!admission.ok) return this.refuseTunnel(client, admission);
    const port = Number(m![2]);
    let upstream: Socket;
    try {
      upstream = await this.dial(admission.address, port);
    } catch (e) {
      client.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${(e as Error).message}\n`);
      return;
    }
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    this.splice(client, upstream);
    this.meter(upstream);
  }

  private refuseTunnel(client: Socket, refusal: Extract<Admission, { ok: false }>): void {
    this.noteBlocked(refusal.blocked);
    const { rule, reason } = refusal.blocked;
    client.end(
      `HTTP/1.1 ${refusal.status} Blocked by the sandbox's network policy\r\nContent-Type: text/plain\r\n` +
        `X-AstraForge-Egress: blocked; rule=${rule}\r\nConnection: close\r\n\r\nastraforge egress: ${reason}\n`,
    );
  }

  /** A plain HTTP request in absolute form, to the checked address; the Host header must name the same host. */
  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('astraforge egress: this is a proxy; send absolute URLs (HTTP_PROXY)\n');
      return;
    }
    const port = Number(url.port || 80);
    if (url.protocol !== 'http:') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`astraforge egress: ${url.protocol} is not proxied here; use CONNECT\n`);
      return;
    }
    const hostHeader = req.headers.host;
    if (hostHeader !== undefined && !sameAuthority(hostHeader, url.hostname, port)) {
      const blocked = { host: normalizeHost(url.hostname), port, rule: 'host-mismatch', reason: `Host "${hostHeader}" is not ${url.host}` };
      return this.refuseRequest(res, { ok: false, status: 403, blocked });
    }
    const admission = await this.admit(url.hostname, port);
    if (!admission.ok) return this.refuseRequest(res, admission);
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push([name, req.rawHeaders[i + 1]!]);
    }
    if (hostHeader === undefined) headers.push(['Host', url.host]);
    if (req.headers['transfer-encoding'] && !req.headers['content-length']) headers.push(['Transfer-Encoding', 'chunked']);
    let upstream: Socket;
    try {
      upstream = await this.dial(admission.address, port);
    } catch (e) {
      res.writeHead(502, { 'content-type': 'text/plain' }).end(`astraforge egress: ${(e as Error).message}\n`);
      return;
    }
    const out = httpRequest({
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers: headers as unknown as Record<string, string>,
      setHost: false,
      createConnection: () => upstream,
    });
    this.meter(upstream);
    out.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`astraforge egress: ${e.message}\n`);
      else res.destroy();
    });
    out.on('response', (answer) => {
      const back: [string, string][] = [];
      for (let i = 0; i < answer.rawHeaders.length; i += 2) {
        const name = answer.rawHeaders[i]!;
        if (!HOP_BY_HOP.has(name.toLowerCase())) back.push([name, answer.rawHeaders[i + 1]!]);
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, back.flat());
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    if (res.destroyed || req.socket.destroyed) return void upstream.destroy();
    res.on('close', () => upstream.destroy());
    req.pipe(out);
  }

  private refuseRequest(res: ServerResponse, refusal: Extract<Admission, { ok: false }>): void {
    this.noteBlocked(refusal.blocked);
    res
      .writeHead(refusal.status, 'Blocked by the sandbox network policy', {
        'content-type': 'text/plain',
        'x-astraforge-egress': `blocked; rule=${refusal.blocked.rule}`,
        connection: 'close',
      })
      .end(`astraforge egress: ${refusal.blocked.reason}\n`);
  }

  /** A TCP connection to an address that passed the checks, under the per-connection limits. */
  private dial(address: string, port: number): Promise<Socket> {
    const { limits } = this.opts;
    this.dialing++;
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: address, port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connecting to ${address}:${port} timed out`));
      }, limits.connectTimeoutMs);
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${address}:${port}: ${e.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.on('error', () => socket.destroy());
        this.track(socket);
        resolve(socket);
      });
    }).finally(() => this.dialing--);
  }

  private track(upstream: Socket): void {
    const { limits } = this.opts;
    this.upstreams.add(upstream);
    this.totals.connections++;
    upstream.setTimeout(limits.idleTimeoutMs, () => upstream.destroy());
    const lifetime = setTimeout(() => upstream.destroy(), limits.maxConnectionMs);
    // Uploads are checked against the byte limit on a timer; downloads on each chunk (meter).
    this.limitTimer ??= setInterval(() => this.enforceByteLimit(), 1000);
    upstream.once('close', () => {
      clearTimeout(lifetime);
      this.upstreams.delete(upstream);
      this.totals.bytes_sent += upstream.bytesWritten;
      this.totals.bytes_received += upstream.bytesRead;
      if (!this.upstreams.size) {
        clearInterval(this.limitTimer);
        this.limitTimer = undefined;
      }
      this.observer?.usage(this.usage());
    });
  }

  /** Called once the upstream's reader is attached (a listener before it would take bytes from it). */
  private meter(upstream: Socket): void {
    upstream.on('data', () => this.enforceByteLimit());
  }

  /** Ended connections' bytes and the live ones' so far. */
  private usage(): NetworkUsage {
    const u = { ...this.totals };
    for (const s of this.upstreams) {
      u.bytes_sent += s.bytesWritten;
      u.bytes_received += s.bytesRead;
    }
    return u;
  }

  /** Both ways until either side ends; the idle timeout applies to each side. */
  private splice(client: Socket, upstream: Socket): void {
    // The sandbox may have hung up while the name was looked up and the connection made.
    if (client.destroyed) return void upstream.destroy();
    client.setTimeout(this.opts.limits.idleTimeoutMs, () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }

  private enforceByteLimit(): void {
    const u = this.usage();
    if (u.bytes_sent + u.bytes_received <= this.opts.limits.maxBytes) return;
    // Past the allowance: every connection ends now, and new ones are refused.
    for (const s of this.upstreams) s.destroy();
    this.opts.log({ socket: this.opts.socketPath, usage: u }, 'egress byte limit reached');
  }

  private noteAllowed(c: AllowedConnection): void {
    const key = `${c.host}:${c.port}`;
    if (this.allowedHosts.has(key) || this.allowedHosts.size >= MAX_ALLOWED_REMEMBERED) return;
    this.allowedHosts.add(key);
    this.observer?.allowed(c);
  }

  private noteBlocked(b: BlockedConnection): void {
    this.totals.blocked++;
    this.blockedKept.push({ ...b, at: new Date().toISOString() });
    if (this.blockedKept.length > MAX_BLOCKED_KEPT) this.blockedKept.shift();
    if (this.totals.blocked > MAX_BLOCKED_REPORTS) return;
    this.observer?.blocked(b);
    this.opts.log({ egress: 'blocked', host: b.host, port: b.port, rule: b.rule }, 'egress connection blocked');
  }
}

/** Whether a Host header names hostname:port (the port may be left out where it is 80), compared as a URL parser sees both. */
function sameAuthority(header: string, hostname: string, port: number): boolean {
  // user@host and paths would let the parser see another host than the origin's virtual hosting does.
  if (/[@/\\?#\s]/.test(header)) return false;
  try {
    const h = new URL(`http://${header}`);
    return normalizeHost(h.hostname) === normalizeHost(hostname) && Number(h.port || 80) === port;
  } catch {
    return false;
  }
}
