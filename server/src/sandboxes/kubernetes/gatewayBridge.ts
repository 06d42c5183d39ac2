// The model gateway for pods: a pod has no socket of the server's bound in,
// so its runner's relay (the agent's 127.0.0.1:<port> in the pod) connects
// to the server over TCP instead, and this bridge passes each connection on
// to the gateway's unix socket. It listens on the address the server has on
// the pod network (the source address of its route to the pod), so it is not
// offered anywhere else; the gateway itself checks each request's per-run
// token, which dies with the run.
import { createSocket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';

export interface BridgeAddress {
  host: string;
  port: number;
}

export class GatewayBridges {
  private readonly bridges = new Map<string, Promise<{ server: Server; address: BridgeAddress }>>();

  /** `port` 0: any free port (the deployment fixes one its NetworkPolicy names). */
  constructor(private readonly port: number) {}

  /** The bridge to `socketPath` on `host` (an IPv4 address), started on first use. */
  async addressFor(host: string, socketPath: string): Promise<BridgeAddress> {
    const key = `${host}|${socketPath}`;
    let bridge = this.bridges.get(key);
    if (!bridge) {
      bridge = this.start(host, socketPath);
      this.bridges.set(key, bridge);
      bridge.catch(() => this.bridges.delete(key));
    }
    return (await bridge).address;
  }

  private start(host: string, socketPath: string): Promise<{ server: Server; address: BridgeAddress }> {
    const server = createServer((tcp) => {
      tcp.setNoDelay(true);
      const up = connect(socketPath);
      tcp.pipe(up);
      up.pipe(tcp);
      const close = () => {
        tcp.destroy();
        up.destroy();
      };
      tcp.on('error', close);
      up.on('error', close);
      tcp.on('close', close);
      up.on('close', close);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, host, () => {
        const a = server.address();
        resolve({ server, address: { host, port: typeof a === 'object' && a ? a.port : this.port } });
      });
      server.unref();
    });
  }

  async close(): Promise<void> {
    const all = [...this.bridges.values()];
    this.bridges.clear();
    for (const b of all) {
      const { server } = await b.catch(() => ({ server: undefined }));
      server?.close();
    }
  }
}

/** The IPv4 address of a socket's local end ("::ffff:" stripped), or undefined on IPv6. */
export function localIPv4(address: string | undefined): string | undefined {
  const a = address?.replace(/^::ffff:/, '');
  return a && /^\d{1,3}(\.\d{1,3}){3}$/.test(a) ? a : undefined;
}

/**
 * The address this host sends from to `podIp`: the server's own on the pod network, whether
 * the runner is reached directly or through the router. A connected UDP socket sends nothing.
 */
export function routeSourceTo(podIp: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createSocket(podIp.includes(':') ? 'udp6' : 'udp4');
    const done = (a: string | undefined) => {
      s.close();
      resolve(a);
    };
    s.once('error', () => done(undefined));
    s.connect(9, podIp, () => done(localIPv4(s.address().address)));
  });
}
