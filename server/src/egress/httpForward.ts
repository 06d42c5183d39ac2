// One HTTP request passed on by the proxy, the plain-HTTP way and inside a
// terminated TLS tunnel alike: the headers that may cross (hop-by-hop ones
// dropped, a credential put in place of whatever the sandbox sent), the Host
// check, and the answer piped back.
import { request as httpRequest, type Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { normalizeHost } from './networkRules';

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

/** A header the server adds at the edge (egress/edgeCredentials.ts). */
export interface InjectedHeader {
  name: string;
  value: string;
}

/** The request's headers that go upstream; an injected header replaces every one of the same name the sandbox sent. */
export function upstreamHeaders(req: IncomingMessage, host: string, inject?: InjectedHeader): [string, string][] {
  const replaced = inject?.name.toLowerCase();
  const headers: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP.has(lower) && lower !== replaced) headers.push([name, req.rawHeaders[i + 1]!]);
  }
  if (req.headers.host === undefined) headers.push(['Host', host]);
  if (req.headers['transfer-encoding'] && !req.headers['content-length']) headers.push(['Transfer-Encoding', 'chunked']);
  if (inject) headers.push([inject.name, inject.value]);
  return headers;
}

/** Where a request goes: a connection of its own (ended with the exchange), or an agent's kept-alive ones. */
export type Upstream = { socket: Duplex } | { agent: Agent };

/**
 * Sends `req` upstream (to the checked address, plain or TLS) and pipes the
 * answer back to `res`. A connection of its own ends with the exchange; an
 * agent's is left to the agent unless the exchange is cut short.
 */
export function relayExchange(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: Upstream,
  path: string,
  headers: [string, string][],
): void {
  const out = httpRequest({
    method: req.method,
    path,
    headers: headers as unknown as Record<string, string>,
    setHost: false,
    ...('agent' in upstream ? { agent: upstream.agent } : { createConnection: () => upstream.socket as never }),
  });
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
  const cut = (): void => {
    if ('agent' in upstream) out.destroy();
    else upstream.socket.destroy();
  };
  if (res.destroyed || req.socket.destroyed) return cut();
  res.on('close', () => {
    if ('socket' in upstream || !res.writableFinished) cut();
  });
  req.pipe(out);
}

/**
 * Whether a Host header names hostname:port (the port may be left out where it
 * is the scheme's), compared as a URL parser of that scheme sees both.
 */
export function sameAuthority(header: string, hostname: string, port: number, scheme: 'http' | 'https' = 'http'): boolean {
  // user@host and paths would let the parser see another host than the origin's virtual hosting does.
  if (/[@/\\?#\s]/.test(header)) return false;
  try {
    const h = new URL(`${scheme}://${header}`);
    return normalizeHost(h.hostname) === normalizeHost(hostname) && Number(h.port || (scheme === 'https' ? 443 : 80)) === port;
  } catch {
    return false;
  }
}

/** A plain-text answer from the proxy itself. */
export function answerText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(`astraforge egress: ${text}\n`);
}
