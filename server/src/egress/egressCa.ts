// The proxy's own certificate authority, for the hosts whose TLS it terminates
// (a credential with terminateTls) and for no other: made at the first start
// that needs it and kept in the server's data folder (key 0600), its public
// certificate handed to every sandbox with network (af-runner adds it to the
// sandbox's trust), and a leaf certificate per terminated host made on first use.
//
// Why the openssl command and not a JavaScript X.509 library: certificates are
// ASN.1 that is easy to get subtly wrong by hand, the system's OpenSSL is the
// maintained implementation Node's own TLS links, it is on every machine the
// server runs on (Debian, the Docker image), and it adds no dependency to the
// bundle. It runs once for the CA and once per terminated host, never per
// connection.
import { execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';

const CA_DAYS = 3650;
const LEAF_DAYS = 30;
/** A leaf older than this is made again (a server may run longer than a leaf lives). */
const LEAF_RENEW_MS = 7 * 24 * 3600 * 1000;

interface Leaf {
  made: number;
  context: Promise<SecureContext>;
}

export class EgressCa {
  /** The CA's certificate (PEM): public, what sandboxes trust. */
  readonly certificatePem: string;
  private readonly caKeyFile: string;
  private readonly caCertFile: string;
  private readonly leafKeyFile: string;
  private readonly leafKeyPem: string;
  private readonly leaves = new Map<string, Leaf>();

  /** Loads the CA kept in `dir`, or makes it there. Throws when openssl is missing or fails. */
  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    this.caKeyFile = join(dir, 'ca.key');
    this.caCertFile = join(dir, 'ca.pem');
    this.leafKeyFile = join(dir, 'leaf.key');
    if (!existsSync(this.caKeyFile) || !existsSync(this.caCertFile)) this.makeCa();
    this.certificatePem = readFileSync(this.caCertFile, 'utf8');
    // One key for every leaf: the leaves differ only in the name they are for.
    if (!existsSync(this.leafKeyFile)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      writeFileSync(this.leafKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    }
    this.leafKeyPem = readFileSync(this.leafKeyFile, 'utf8');
  }

  private makeCa(): void {
    const name = `AstraForge egress CA ${randomBytes(4).toString('hex')}`;
    try {
      // prettier-ignore
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', this.caKeyFile, '-out', this.caCertFile, '-days', String(CA_DAYS), '-subj', `/CN=${name}`,
        '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
        '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      const stderr = String((e as { stderr?: Buffer }).stderr ?? '').trim();
      throw new Error(
        `network.credentials with terminateTls needs the openssl command to make the proxy's CA: ${stderr || (e as Error).message}`,
      );
    }
    chmodSync(this.caKeyFile, 0o600);
    chmodSync(this.caCertFile, 0o644);
  }

  /** The TLS context the proxy presents to a sandbox for `host` (a terminated host's name or address). */
  contextFor(host: string): Promise<SecureContext> {
    const known = this.leaves.get(host);
    if (known && Date.now() - known.made < LEAF_RENEW_MS) return known.context;
    const context = this.makeLeaf(host).then((cert) =>
      createSecureContext({ key: this.leafKeyPem, cert: `${cert}${this.certificatePem}` }),
    );
    // A failure is not kept: the next connection tries again.
    context.catch(() => this.leaves.delete(host));
    this.leaves.set(host, { made: Date.now(), context });
    return context;
  }

  private makeLeaf(host: string): Promise<string> {
    const san = isIP(host) ? `IP:${host}` : `DNS:${host}`;
    // prettier-ignore
    const args = [
      'req', '-new', '-x509', '-CA', this.caCertFile, '-CAkey', this.caKeyFile, '-key', this.leafKeyFile,
      '-subj', `/CN=${host}`, '-days', String(LEAF_DAYS),
      '-addext', `subjectAltName=${san}`,
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', 'keyUsage=critical,digitalSignature',
      '-addext', 'extendedKeyUsage=serverAuth',
    ];
    return new Promise((resolve, reject) => {
      execFile('openssl', args, { encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err) reject(new Error(`openssl could not make a certificate for ${host}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
    });
  }
}
