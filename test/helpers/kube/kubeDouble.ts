// The API double started the way tests and scripts/dev-cluster.sh use it:
// https on loopback with a fresh self-signed certificate, a bearer token, a
// namespace, and a kubeconfig file naming all of it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApiServer, type KubeApiOptions } from './kubeApiServer';
import { writeKubeconfig } from './kubeconfig';
import { selfSignedCert } from './selfSignedCert';

export interface KubeDouble {
  api: KubeApiServer;
  url: string;
  namespace: string;
  token: string;
  kubeconfig: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startKubeDouble(
  opts: Omit<KubeApiOptions, 'tls' | 'token'> & { namespace?: string; dir?: string; port?: number } = {},
): Promise<KubeDouble> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'af-kube-'));
  const tls = selfSignedCert(dir);
  const token = randomBytes(18).toString('base64url');
  const api = new KubeApiServer({ ...opts, tls, token });
  const url = await api.start(opts.port ?? 0);
  const namespace = opts.namespace ?? 'astraforge';
  api.store.create(api.kind('Namespace'), undefined, { metadata: { name: namespace } });
  const kubeconfig = join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, { server: url, token, namespace, caCert: tls.cert });
  return {
    api,
    url,
    namespace,
    token,
    kubeconfig,
    dir,
    async stop() {
      await api.stop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
