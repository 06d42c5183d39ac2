// A kubeconfig file naming the API double: one cluster, one user with a
// bearer token, one context with its namespace, as kubectl and
// @kubernetes/client-node read it.
import { writeFileSync } from 'node:fs';

export interface KubeconfigOptions {
  server: string;
  token: string;
  namespace: string;
  /** The API server's certificate (PEM), trusted as the cluster's CA. */
  caCert?: Buffer;
}

export function kubeconfigText(o: KubeconfigOptions): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: astraforge-double',
    '  cluster:',
    `    server: ${o.server}`,
    ...(o.caCert ? [`    certificate-authority-data: ${o.caCert.toString('base64')}`] : []),
    'users:',
    '- name: astraforge-double',
    '  user:',
    `    token: ${o.token}`,
    'contexts:',
    '- name: astraforge-double',
    '  context:',
    '    cluster: astraforge-double',
    '    user: astraforge-double',
    `    namespace: ${o.namespace}`,
    'current-context: astraforge-double',
    '',
  ].join('\n');
}

export function writeKubeconfig(path: string, o: KubeconfigOptions): void {
  writeFileSync(path, kubeconfigText(o), { mode: 0o600 });
}
