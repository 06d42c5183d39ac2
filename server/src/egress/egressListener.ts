// One sandbox's way out: an HTTP proxy on a unix socket of its own (so every
// connection is known to be that sandbox's), enforcing its policy. CONNECT
// tunnels (HTTPS, passed through, never decrypted, but for the hosts whose
// credential the config says to add by terminating TLS: tlsTermination.ts)
// and plain HTTP requests in absolute form are served; for each, the name is checked against the policy,
// looked up once, every address checked (addressCheck.ts), and the connection
// made to the address that passed: a DNS answer that changes afterwards
// cannot move it. The counting and the limits are egressLedger.ts's.
import { chmodSync, chownSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, isIP, type OnReadOpts, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SessionNetwork } from '@astraforge/contract/networkPolicy';
import { addressRefusal, type AddressPolicy } from './addressCheck';
import type { EdgeCredentials } from './edgeCredentials';
import type { EgressCa } from './egressCa';
import { EgressLedger, type BlockedConnection, type EgressLimits, type EgressObserver } from './egressLedger';
import { answerText, relayExchange, sameAuthority, upstreamHeaders } from './httpForward';
import type { NameResolver } from './nameResolver';
import { decide, describePolicy, type EffectivePolicy } from './networkPolicy';
import { normalizeHost } from './networkRules';
import { CA_PATH } from './sandboxEnvironment';
import { TlsTerminator } from './tlsTermination';
import { spliceTunnel, tunnelDownload } from './tunnelSplice';

export type { AllowedConnection, BlockedConnection, EgressLimits, EgressObserver } from './egressLedger';

/** Secrets at the edge: the credentials, and the CA when some host's TLS is terminated. */
export interface EdgeOptions {
  credentials: EdgeCredentials;
  ca?: EgressCa;
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
  edge?: EdgeOptions;
}

type Admission = { ok: true; host: string; address: string } | { ok: false; status: number; blocked: BlockedConnection };

export class EgressListener {
  private server?: Server;
  private readonly clients = new Set<Socket>();
  private readonly ledger: EgressLedger;
  private readonly terminator?: TlsTerminator;
  /** Connections being dialled: they count toward the limit before they are up. */
  private dialing = 0;
  /** Lookups under way: they count too, so a sandbox cannot pile them up. */
  private resolving = 0;

  /** The policy in force: set at the start, changed by a run's follow-up. */
  private policy: EffectivePolicy;

  constructor(private readonly opts: ListenerOptions) {
    this.policy = opts.policy;
    this.ledger = new EgressLedger(opts.limits, (obj, msg) => opts.log({ socket: opts.socketPath, ...obj }, msg));
    const edge = opts.edge;
    if (edge?.ca) {
      this.terminator = new TlsTerminator({
        ca: edge.ca,
        upstreamCa: edge.credentials.upstreamCa,
        dial: (address, port) => this.dial(address, port),
        blocked: (b) => this.ledger.noteBlocked(b),
        idleTimeoutMs: opts.limits.idleTimeoutMs,
      });
    }
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
    this.ledger.observer = observer;
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
    this.ledger.close();
    for (const s of this.clients) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    rmSync(this.opts.socketPath, { force: true });
  }

  info(): SessionNetwork {
    return {
      ...describePolicy(this.policy),
      usage: this.ledger.usage(),
      allowed_hosts: this.ledger.allowedShown(),
      blocked: this.ledger.blockedShown(),
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
    if (this.ledger.overByteLimit()) return refuse('limit:bytes', `this sandbox used its ${limits.maxBytes} bytes of network`, 429);
    if (this.ledger.upstreams.size + this.dialing + this.resolving >= limits.maxConnections)
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
        this.ledger.noteAllowed({ host, port, rule: decision.rule, address });
        return { ok: true, host, address };
      }
      firstRefusal ??= refusal;
    }
    const via = isIP(host) ? '' : `${host} resolves to ${addresses.join(', ')}: `;
    return refuse(firstRefusal ? `${firstRefusal.category}-address` : 'resolve-failed', `${via}${firstRefusal?.reason ?? 'no address'}`);
  }

  /**
   * CONNECT host:port: a tunnel to the checked address, bytes passed through
   * untouched; or, for a host the config terminates, TLS ended here (tlsTermination.ts).
   */
  private async tunnel(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => undefined);
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(req.url ?? '');
    const admission = m ? await this.admit(m[1]!, Number(m[2])) : await this.admit(req.url ?? '', 0);
    if (!admission.ok) return this.refuseTunnel(client, admission);
    const port = Number(m![2]);
    // Chosen by the name the sandbox asked for, exactly as the config wrote it: never by the address it resolves to.
    const header = this.terminator && this.opts.edge?.credentials.forTunnel(admission.host, port);
    if (header) return this.terminator!.terminate(client, head, { host: admission.host, port, address: admission.address, header });
    const download = tunnelDownload(client, () => this.ledger.counted());
    let upstream: Socket;
    try {
      upstream = await this.dial(admission.address, port, download.onread);
    } catch (e) {
      client.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${(e as Error).message}\n`);
      return;
    }
    download.attach(upstream);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    spliceTunnel(client, upstream, this.opts.limits.idleTimeoutMs);
  }

  private refuseTunnel(client: Socket, refusal: Extract<Admission, { ok: false }>): void {
    this.ledger.noteBlocked(refusal.blocked);
    const { rule, reason } = refusal.blocked;
    client.end(
      `HTTP/1.1 ${refusal.status} Blocked by the sandbox's network policy\r\nContent-Type: text/plain\r\n` +
        `X-AstraForge-Egress: blocked; rule=${rule}\r\nConnection: close\r\n\r\nastraforge egress: ${reason}\n`,
    );
  }

  /** A plain HTTP request in absolute form, to the checked address; the Host header must name the same host. */
  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url === CA_PATH && req.method === 'GET') return this.serveCa(res);
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return answerText(res, 400, 'this is a proxy; send absolute URLs (HTTP_PROXY)');
    }
    const port = Number(url.port || 80);
    if (url.protocol !== 'http:') return answerText(res, 400, `${url.protocol} is not proxied here; use CONNECT`);
    const hostHeader = req.headers.host;
    if (hostHeader !== undefined && !sameAuthority(hostHeader, url.hostname, port)) {
      const blocked = { host: normalizeHost(url.hostname), port, rule: 'host-mismatch', reason: `Host "${hostHeader}" is not ${url.host}` };
      return this.refuseRequest(res, { ok: false, status: 403, blocked });
    }
    const admission = await this.admit(url.hostname, port);
    if (!admission.ok) return this.refuseRequest(res, admission);
    let upstream: Socket;
    try {
      upstream = await this.dial(admission.address, port);
    } catch (e) {
      return answerText(res, 502, (e as Error).message);
    }
    const header = this.opts.edge?.credentials.forPlain(admission.host, port);
    relayExchange(req, res, { socket: upstream }, `${url.pathname}${url.search}`, upstreamHeaders(req, url.host, header));
    this.ledger.meter(upstream);
  }

  /** The CA's certificate (public) for af-runner to add to the sandbox's trust; 404 where no host is terminated. */
  private serveCa(res: ServerResponse): void {
    const pem = this.opts.edge?.ca?.certificatePem;
    if (!pem) return answerText(res, 404, 'this server terminates no TLS');
    res
      .writeHead(200, { 'content-type': 'application/x-pem-file', 'content-length': Buffer.byteLength(pem), connection: 'close' })
      .end(pem);
  }

  private refuseRequest(res: ServerResponse, refusal: Extract<Admission, { ok: false }>): void {
    this.ledger.noteBlocked(refusal.blocked);
    res
      .writeHead(refusal.status, 'Blocked by the sandbox network policy', {
        'content-type': 'text/plain',
        'x-astraforge-egress': `blocked; rule=${refusal.blocked.rule}`,
        connection: 'close',
      })
      .end(`astraforge egress: ${refusal.blocked.reason}\n`);
  }

  /** A TCP connection to an address that passed the checks, under the per-connection limits. */
  private dial(address: string, port: number, onread?: OnReadOpts): Promise<Socket> {
    const { limits } = this.opts;
    this.dialing++;
    return new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: address, port, noDelay: true, ...(onread ? { onread } : {}) });
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
        this.ledger.track(socket);
        resolve(socket);
      });
    }).finally(() => this.dialing--);
  }
}
