// A self-signed certificate for the API double's https (kubectl sends a
// bearer token only over TLS), made with the openssl command line.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ServingCert {
  key: Buffer;
  cert: Buffer;
}

export function selfSignedCert(dir: string): ServingCert {
  const key = join(dir, 'apiserver.key');
  const cert = join(dir, 'apiserver.crt');
  // prettier-ignore
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=astraforge-kube-double',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}
