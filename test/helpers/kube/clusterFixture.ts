// Mocha's global fixture for ASTRAFORGE_TEST_SANDBOX=kubernetes: one cluster
// double (the API server and controller doubles, seeded like
// scripts/dev-cluster.sh) for the whole run, its KUBECONFIG handed to every
// server the tests start, and everything it started stopped at the end.
// Load it with `--require test/helpers/kube/clusterFixture.ts`. A KUBECONFIG
// already set (dev-cluster.sh's, or a real cluster with agent-sandbox) is used
// as it is and nothing is started. ASTRAFORGE_TEST_KUBE_ROUTER=1 also starts
// the router double and has the servers reach their pods only through it.
import { startDevCluster, type DevCluster } from './devCluster';
import { startRouterDouble, type RouterDouble } from './routerDouble';

let cluster: DevCluster | undefined;
let router: RouterDouble | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  if (process.env.ASTRAFORGE_TEST_SANDBOX !== 'kubernetes' || process.env.KUBECONFIG) return;
  cluster = await startDevCluster();
  process.env.KUBECONFIG = cluster.kubeconfig;
  process.env.ASTRAFORGE_TEST_CLUSTER_DOUBLE = '1';
  if (process.env.ASTRAFORGE_TEST_KUBE_ROUTER === '1') {
    const started = await startRouterDouble({ api: cluster.kube.api });
    router = started.router;
    process.env.ASTRAFORGE_KUBERNETES_ROUTER_URL = started.url;
  }
}

export async function mochaGlobalTeardown(): Promise<void> {
  if (!cluster) return;
  const c = cluster;
  cluster = undefined;
  if (router) process.stdout.write(`  (the router double carried ${router.routed.length} requests)\n`);
  await router?.stop();
  router = undefined;
  delete process.env.ASTRAFORGE_KUBERNETES_ROUTER_URL;
  delete process.env.KUBECONFIG;
  delete process.env.ASTRAFORGE_TEST_CLUSTER_DOUBLE;
  await c.stop();
}
