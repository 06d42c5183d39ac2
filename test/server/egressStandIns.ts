// Loopback stand-ins for the egress tests: an origin HTTP server that counts
// every connection it gets (so a test can prove a refused one never arrived),
// a small DNS server whose answers a test scripts (DNS rebinding), and the
// commands a sandbox fetches with (curl where the sandbox has it, else python3).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const DOCKER = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';

export interface Origin {
  port: number;
  /** TCP connections accepted, and the requests' Host headers and paths. */
  connections: number;
  requests: { host: string; path: string }[];
  close(): Promise<void>;
}

/** Answers every request with `origin <path>` (or `size` bytes for /bytes/<size>). */
export async function startOrigin(): Promise<Origin> {
  const state = { connections: 0, requests: [] as { host: string; path: string }[] };
  const server: Server = createServer((req, res) => {
    state.requests.push({ host: String(req.headers.host), path: req.url ?? '' });
    const size = /^\/bytes\/(\d+)$/.exec(req.url ?? '')?.[1];
    if (size) {
      res.writeHead(200, { 'content-length': size });
      res.end(Buffer.alloc(Number(size), 0x61));
      return;
    }
    res.end(`origin ${req.url}\n`);
  });
  server.on('connection', () => state.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return state.connections;
    },
    get requests() {
      return state.requests;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface ScriptedDns {
  port: number;
  /** A queries asked, per name. */
  queries: Map<string, number>;
  close(): void;
}

/**
 * A DNS server on loopback UDP: `answer(name, n)` gives the A records for the
 * n-th A query of that name (from 1), or undefined for NXDOMAIN. AAAA queries
 * get no records.
 */
export async function startScriptedDns(answer: (name: string, n: number) => string[] | undefined): Promise<ScriptedDns> {
  const queries = new Map<string, number>();
  const socket: UdpSocket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const labels: string[] = [];
    let at = 12;
    while (at < msg.length && msg[at] !== 0) {
      const len = msg[at]!;
      labels.push(msg.subarray(at + 1, at + 1 + len).toString('ascii'));
      at += len + 1;
    }
    const questionEnd = at + 5;
    const qtype = msg.readUInt16BE(at + 1);
    const name = labels.join('.').toLowerCase();
    let records: string[] | undefined = [];
    if (qtype === 1) {
      const n = (queries.get(name) ?? 0) + 1;
      queries.set(name, n);
      records = answer(name, n);
    } else if (answer(name, 0) === undefined) records = undefined;
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(records ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records?.length ?? 0, 6);
    const answers = (records ?? []).map((ip) => {
      const rr = Buffer.alloc(16);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(1, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(0, 6);
      rr.writeUInt16BE(4, 10);
      ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
      return rr;
    });
    socket.send(Buffer.concat([header, msg.subarray(12, questionEnd), ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: socket.address().port, queries, close: () => socket.close() };
}

/**
 * A shell command that fetches `url` through the sandbox's proxy variables and
 * prints the HTTP status (000 when there was none) then the body; `tunnel` uses
 * CONNECT even for http:// (as HTTPS would).
 */
export function fetchCommand(url: string, opts: { tunnel?: boolean; forceProxy?: boolean } = {}): string {
  // The proxy variables leave loopback direct; a hostile agent names the proxy for it itself.
  const env = opts.forceProxy ? 'env -u NO_PROXY -u no_proxy ' : '';
  const curlProxy = opts.forceProxy ? '--noproxy "" -x http://127.0.0.1:3128 ' : '';
  if (!DOCKER) return `${env}curl -sS ${curlProxy}${opts.tunnel ? '-p ' : ''}-w '\\n%{http_code}\\n' '${url}' 2>&1; true`;
  // The Docker image has no curl: python3's urllib reads the same variables.
  const py = [
    'import sys, urllib.request, urllib.error',
    'try:',
    '  r = urllib.request.urlopen(sys.argv[1], timeout=20); print(r.read().decode()); print(r.status)',
    'except urllib.error.HTTPError as e:',
    '  print(e.read().decode()); print(e.code)',
    'except Exception as e:',
    '  print(e); print("000")',
  ].join('\n');
  return `${env}python3 -c '${py}' '${url}'`;
}

/** The status line a fetchCommand printed last. */
export function statusOf(output: string): number {
  const lines = output.trim().split('\n');
  return Number(lines[lines.length - 1]);
}

/**
 * Python that talks to the proxy itself, as a hostile agent would: sends `request`
 * (bytes, \r\n already in) to 127.0.0.1:3128 and prints the first line of the answer.
 */
export function rawProxyCommand(request: string): string {
  const py = [
    'import socket, sys',
    's = socket.create_connection(("127.0.0.1", 3128), timeout=20)',
    's.sendall(sys.argv[1].encode().decode("unicode_escape").encode("latin-1"))',
    'data = b""',
    'while b"\\r\\n" not in data:',
    '  chunk = s.recv(4096)',
    '  if not chunk: break',
    '  data += chunk',
    'print(data.split(b"\\r\\n")[0].decode())',
  ].join('\n');
  return `python3 -c '${py}' '${request.replace(/\r/g, '\\r').replace(/\n/g, '\\n')}'`;
}
