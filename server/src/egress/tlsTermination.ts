// TLS terminated for one host a credential names (and only such hosts: every
// other CONNECT stays a tunnel of untouched bytes). The sandbox's TLS ends at
// the proxy, under a certificate of the server's own CA for the very name it
// asked for; each request in it must name that host, gets the credential in
// place of whatever the sandbox sent, and goes to the address that passed the
// checks over TLS connections of the tunnel's own, kept alive from one request
// to the next, each verified against the system's roots (and
// network.upstreamCaFiles) for that name as any client would.
import { Agent, createServer, type ClientRequestArgs, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import type { EgressCa } from './egressCa';
import type { BlockedConnection } from './egressLedger';
import { answerText, relayExchange, sameAuthority, upstreamHeaders, type InjectedHeader } from './httpForward';

/** Where a terminated tunnel goes: the name asked for, the address that passed, the header to add. */
export interface TerminatedTarget {
  host: string;
  port: number;
  address: string;
  header: InjectedHeader;
}

export interface TerminatorDeps {
  ca: EgressCa;
  /** Roots for the re-originated connection; undefined: Node's (the system's). */
  upstreamCa: string[] | undefined;
  /** A TCP connection to a checked address, counted under the sandbox's limits. */
  dial(address: string, port: number): Promise<Socket>;
  blocked(b: BlockedConnection): void;
  idleTimeoutMs: number;
}

export class TlsTerminator {
  /** Parses the requests of every terminated tunnel; it listens on nothing. */
  private readonly http: Server;
  private readonly tunnels = new WeakMap<object, { target: TerminatedTarget; agent: Agent }>();

  constructor(private readonly deps: TerminatorDeps) {
    this.http = createServer({ requestTimeout: 0 });
    this.http.on('request', (req: IncomingMessage, res: ServerResponse) => void this.forward(req, res));
  }

  /** Answers the CONNECT, then speaks TLS to the sandbox as `target.host`. */
  async terminate(client: Socket, head: Buffer, target: TerminatedTarget): Promise<void> {
    let secureContext;
    try {
      secureContext = await this.deps.ca.contextFor(target.host);
    } catch (e) {
      client.end(`HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${(e as Error).message}\n`);
      return;
    }
    if (client.destroyed) return;
    client.setTimeout(this.deps.idleTimeoutMs, () => client.destroy());
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) client.unshift(head);
    const tls = new TLSSocket(client, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    tls.on('error', () => client.destroy());
    const agent = this.upstreamAgent(target);
    tls.once('close', () => agent.destroy());
    this.tunnels.set(tls, { target, agent });
    this.http.emit('connection', tls);
  }

  /** The tunnel's way upstream: its own connections, to the checked address only, TLS verified for the name. */
  private upstreamAgent(target: TerminatedTarget): Agent {
    const { dial, upstreamCa } = this.deps;
    const { host, address, port } = target;
    class PinnedAgent extends Agent {
      override createConnection(_options: ClientRequestArgs, done?: (err: Error | null, socket: Duplex) => void): undefined {
        dial(address, port).then(
          (tcp) => {
            const upstream = tlsConnect({
              socket: tcp,
              // Verified for the name the credential is for; an address is verified as an address.
              ...(isIP(host) ? { host } : { servername: host, host }),
              ca: upstreamCa,
              ALPNProtocols: ['http/1.1'],
            });
            upstream.on('close', () => tcp.destroy());
            done?.(null, upstream);
          },
          (e: Error) => done?.(e, undefined as never),
        );
        return undefined;
      }
    }
    // A few at once, as a client pipelines nothing but may open several requests' worth.
    return new PinnedAgent({ keepAlive: true, maxSockets: 4 });
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const tunnel = this.tunnels.get(req.socket);
    if (!tunnel) return void res.destroy();
    const { target, agent } = tunnel;
    const { host, port } = target;
    const hostHeader = req.headers.host;
    // The credential is for this name only: a request naming another (virtual hosting on a shared address) gets neither it nor a way through.
    if (hostHeader !== undefined && !sameAuthority(hostHeader, host, port, 'https')) {
      const reason = `Host "${hostHeader}" is not ${host}:${port}`;
      this.deps.blocked({ host, port, rule: 'host-mismatch', reason });
      return answerText(res, 403, reason, { 'x-astraforge-egress': 'blocked; rule=host-mismatch', connection: 'close' });
    }
    if (!req.url?.startsWith('/')) return answerText(res, 400, 'inside a tunnel, requests name a path', { connection: 'close' });
    const authority = port === 443 ? host : `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    relayExchange(req, res, { agent }, req.url, upstreamHeaders(req, authority, target.header));
  }
}
