// scripts/dev-cluster.sh's process: starts the cluster double, prints
// `KUBECONFIG=<path>` once the API answers, and stops everything on SIGTERM
// or SIGINT. ASTRAFORGE_DEV_CLUSTER_WARM sets every warm pool's replicas;
// ASTRAFORGE_DEV_CLUSTER_ROUTER=1 also starts agent-sandbox's router double
// and prints `ASTRAFORGE_KUBERNETES_ROUTER_URL=<url>` after the KUBECONFIG line.
import { request } from 'node:https';
import { startDevCluster } from './devCluster';
import { startRouterDouble } from './routerDouble';

async function answers(url: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/apis`, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function main(): Promise<void> {
  const warm = process.env.ASTRAFORGE_DEV_CLUSTER_WARM;
  const cluster = await startDevCluster({
    warmPoolReplicas: warm === undefined || warm === '' ? undefined : Number(warm),
    port: Number(process.env.ASTRAFORGE_DEV_CLUSTER_PORT ?? 0),
  });
  while (!(await answers(cluster.kube.url, cluster.kube.token))) await new Promise((r) => setTimeout(r, 50));
  const router = process.env.ASTRAFORGE_DEV_CLUSTER_ROUTER === '1' ? await startRouterDouble({ api: cluster.kube.api }) : undefined;
  process.stdout.write(`KUBECONFIG=${cluster.kubeconfig}\n`);
  if (router) process.stdout.write(`ASTRAFORGE_KUBERNETES_ROUTER_URL=${router.url}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await router?.router.stop();
    await cluster.stop().catch((e: Error) => process.stderr.write(`dev-cluster: ${e.message}\n`));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((e: Error) => {
  process.stderr.write(`dev-cluster: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
