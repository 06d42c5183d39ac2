// The kubernetes provider on the cluster double, beside bubblewrap and
// Docker: session create + first command with a ready warm pod (the claim
// adopts it) and cold (the pool empty: the pod starts for the claim), and
// the warm exec round trip over the runner's TCP connection. The double's
// pods are bubblewrap processes on loopback, so this measures the
// provider's own path (claim, watch until Ready, connect with the token),
// not a real cluster's scheduling and image start.
import { startDevCluster, type DevCluster } from '../test/helpers/kube/devCluster';
import { startServer } from '../test/helpers/serverProcess';
import { until } from '../test/helpers/until';
import { BenchClient } from './httpClient';
import { summarize, type Row } from './stats';

const POOL = 'astraforge-runc';

function setReplicas(cluster: DevCluster, n: number): void {
  const { api } = cluster.kube;
  const kind = api.kind('SandboxWarmPool');
  const pool = api.store.get(kind, cluster.namespace, POOL);
  api.store.update(
    kind,
    cluster.namespace,
    { ...pool, metadata: { ...pool.metadata, resourceVersion: undefined }, spec: { ...(pool.spec as object), replicas: n } },
    'main',
  );
}

async function createFirst(c: BenchClient, samples: number, before: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    await before();
    const t0 = performance.now();
    const id = await c.createSession();
    await c.exec(id, 'true');
    out.push(performance.now() - t0);
    await c.json('DELETE', `/v1/sessions/${id}`);
  }
  return out;
}

export async function kubeBench(samples = 20): Promise<{ rows: Row[]; warmCreateFirstP50?: number; coldCreateFirstP50?: number }> {
  const cluster = await startDevCluster({ warmPoolReplicas: 1 });
  const server = await startServer({ config: { sandbox: 'kubernetes', maxSessions: 100 }, env: { KUBECONFIG: cluster.kubeconfig } });
  const c = new BenchClient(server.url, server.apiKey);
  const ready = () => until('a ready warm pod', () => cluster.controller.warmReady(cluster.namespace, POOL) >= 1, { intervalMs: 5 });
  try {
    await createFirst(c, 3, ready); // warm-up
    const warm = summarize('kubernetes (double): create + first command, warm pod', await createFirst(c, samples, ready));
    setReplicas(cluster, 0);
    await until('the pool empty', () => cluster.controller.warmReady(cluster.namespace, POOL) === 0);
    const cold = summarize('kubernetes (double): create + first command, cold pod', await createFirst(c, samples, async () => undefined));
    const id = await c.createSession();
    for (let i = 0; i < 20; i++) await c.exec(id, 'true');
    const execs: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      await c.exec(id, 'true');
      execs.push(performance.now() - t0);
    }
    await c.json('DELETE', `/v1/sessions/${id}`);
    const exec = summarize('kubernetes (double): warm exec round trip (`true`)', execs);
    return { rows: [warm, cold, exec], warmCreateFirstP50: warm.p50, coldCreateFirstP50: cold.p50 };
  } finally {
    await c.close();
    await server.dispose();
    await cluster.stop();
  }
}
