// Secrets at the edge: the headers the server's config attaches to hosts, read
// once at start (from the config, a variable of the server's or a file) and
// looked up by the name a sandbox asked the proxy for. Only the exact name
// and port the config gives match: the same server under another name or its
// raw address gets nothing, so a credential cannot be steered elsewhere.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { CredentialValue, EdgeCredential } from './egressConfig';
import type { InjectedHeader } from './httpForward';
import { normalizeHost } from './networkRules';

function credentialValue(value: CredentialValue, host: string): string {
  if (typeof value === 'string') return value;
  if ('env' in value) {
    const v = process.env[value.env];
    if (!v) throw new Error(`network.credentials: ${host}'s value comes from $${value.env}, which is not set`);
    return v;
  }
  try {
    return readFileSync(value.file, 'utf8').trim();
  } catch (e) {
    throw new Error(`network.credentials: cannot read ${host}'s value from ${value.file}: ${(e as Error).message}`);
  }
}

function splitHost(entry: string, defaultPort: number): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry);
  return m ? { host: normalizeHost(m[1]!), port: Number(m[2]) } : { host: normalizeHost(entry), port: defaultPort };
}

export class EdgeCredentials {
  private readonly terminated = new Map<string, InjectedHeader>();
  private readonly plain = new Map<string, InjectedHeader>();
  /** The roots a re-originated TLS connection is verified against: the system's and the configured extra CAs. */
  readonly upstreamCa: string[] | undefined;

  constructor(credentials: readonly EdgeCredential[], upstreamCaFiles: readonly string[]) {
    for (const c of credentials) {
      const { host, port } = splitHost(c.host, c.terminateTls ? 443 : 80);
      const header = { name: c.header, value: credentialValue(c.value, c.host) };
      if (/[\r\n]/.test(header.value)) throw new Error(`network.credentials: ${c.host}'s value has a line break`);
      (c.terminateTls ? this.terminated : this.plain).set(`${host}|${port}`, header);
    }
    this.upstreamCa = upstreamCaFiles.length ? [...rootCertificates, ...upstreamCaFiles.map((f) => readFileSync(f, 'utf8'))] : undefined;
  }

  /** Whether any host's TLS is to be terminated (then the server needs its CA). */
  get terminatesTls(): boolean {
    return this.terminated.size > 0;
  }

  /** The header for a CONNECT to host:port, when the config terminates that host's TLS. */
  forTunnel(host: string, port: number): InjectedHeader | undefined {
    return this.terminated.get(`${normalizeHost(host)}|${port}`);
  }

  /** The header for a plain HTTP request to host:port. */
  forPlain(host: string, port: number): InjectedHeader | undefined {
    return this.plain.get(`${normalizeHost(host)}|${port}`);
  }
}
