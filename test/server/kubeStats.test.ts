// A session's stats on kubernetes: memory from the pod's metrics
// (metrics.k8s.io PodMetrics, which the controller double writes from each
// pod's cgroup as metrics-server would) where the cluster has them, else the
// runner's own measure inside the pod; CPU time always the runner's.
import assert from 'node:assert/strict';
import { ApiClient } from '../helpers/apiClient';
import { startDevCluster, type DevCluster } from '../helpers/kube/devCluster';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';

// These name their provider themselves: another provider's pass would only repeat them.
const OTHER_PROVIDER_PASS = process.env.ASTRAFORGE_TEST_SANDBOX !== undefined;
const MiB = 1024 * 1024;

describe('kubernetes stats', function () {
  this.timeout(90_000);
  let cluster: DevCluster | undefined;
  let server: ServerProcess | undefined;

  before(function () {
    if (OTHER_PROVIDER_PASS) this.skip();
  });
  afterEach(async () => {
    await server?.dispose();
    await cluster?.stop();
    server = cluster = undefined;
  });

  async function session(podMetricsIntervalMs: number): Promise<{ api: ApiClient; id: string; c: DevCluster; pod: string }> {
    const c = (cluster = await startDevCluster({ warmPoolReplicas: 1, podMetricsIntervalMs }));
    server = await startServer({ config: { sandbox: 'kubernetes' }, env: { KUBECONFIG: c.kubeconfig } });
    const api = new ApiClient(server.url, server.apiKey);
    const id = await api.createSession();
    const claim = c.kube.api.store.get(c.kube.api.kind('SandboxClaim'), c.namespace, `af-${id}`);
    const sandbox = c.kube.api.store.get(c.kube.api.kind('Sandbox'), c.namespace, (claim.status as any).sandbox.name);
    return { api, id, c, pod: sandbox.metadata.annotations!['agents.x-k8s.io/pod-name'] };
  }

  it('takesMemoryFromThePodsMetricsAndFallsBackToTheRunnersMeasure', async () => {
    const { api, id, c, pod } = await session(0);
    const kind = c.kube.api.kind('PodMetrics');
    c.kube.api.store.create(kind, c.namespace, {
      metadata: { name: pod, namespace: c.namespace },
      timestamp: new Date().toISOString(),
      window: '15s',
      containers: [{ name: 'sandbox', usage: { cpu: '5000000n', memory: '123456Ki' } }],
    } as any);
    await api.exec(id, 'for i in $(seq 200000); do :; done'); // some CPU time of its own
    const withMetrics = (await api.get(`/v1/sessions/${id}/stats`)).body;
    assert.equal(withMetrics.memory_bytes, 123456 * 1024, JSON.stringify(withMetrics));
    assert.ok(withMetrics.cpu_usage_usec > 0, 'CPU time is the runner measure (metrics give a rate)');
    c.kube.api.store.delete(kind, c.namespace, pod);
    const without = (await api.get(`/v1/sessions/${id}/stats`)).body;
    assert.notEqual(without.memory_bytes, 123456 * 1024);
    assert.ok(without.memory_bytes > 0, JSON.stringify(without));
  });

  it('reportsWhatTheControllerDoubleMeasuresFromThePodsCgroup', async function () {
    if (process.getuid?.() !== 0) this.skip(); // the double's pods get cgroups only as root
    const { api, id, c, pod } = await session(200);
    await api.exec(id, 'python3 -c "x = bytearray(160 * 1024 * 1024); import time; time.sleep(60)" >/dev/null 2>&1 &');
    const kind = c.kube.api.kind('PodMetrics');
    const memoryOf = () => {
      try {
        return Number(/^(\d+)Ki$/.exec((c.kube.api.store.get(kind, c.namespace, pod) as any).containers[0].usage.memory)?.[1]) * 1024;
      } catch {
        return 0;
      }
    };
    await until('the pod metrics to show the allocation', () => memoryOf() >= 160 * MiB, { timeoutMs: 20_000 });
    const stats = (await api.get(`/v1/sessions/${id}/stats`)).body;
    assert.ok(stats.memory_bytes >= 160 * MiB, JSON.stringify(stats));
    assert.equal((await api.delete(`/v1/sessions/${id}`)).status, 200);
    await until('its metrics to go with the pod', () => memoryOf() === 0, { timeoutMs: 10_000 });
  });
});
