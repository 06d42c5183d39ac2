// Sessions that ask for their own memory and CPU on Kubernetes: the claim
// names a warm pool of that size, whose template is the tier's with the
// sandbox container's limits set to it (made once, then shared), bounded by
// the server's limits; the pod really has that size (the cluster double
// applies a template's limits as a kubelet does); a session that asks
// nothing keeps the tier's warm pool.
import assert from 'node:assert/strict';
import { ApiClient } from '../helpers/apiClient';
import { startDevCluster, type DevCluster } from '../helpers/kube/devCluster';
import type { KubeObject } from '../helpers/kube/objectStore';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { toolkitCaller } from '../helpers/toolkitClient';

const MiB = 2 ** 20;
// They name their provider themselves: the test command's pass against Docker would only repeat them.
const OTHER_PROVIDER_PASS = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';

describe('kubernetes sandbox sizes (cluster double)', function () {
  before(function () {
    if (OTHER_PROVIDER_PASS) this.skip();
  });
  this.timeout(120_000);
  let cluster: DevCluster;
  let server: ServerProcess;
  let api: ApiClient;
  const call = toolkitCaller(() => server);

  const list = (kind: string): KubeObject[] => cluster.kube.api.store.list(cluster.kube.api.kind(kind), cluster.namespace);
  const find = (kind: string, name: string) => list(kind).find((o) => o.metadata.name === name);
  const limitsOf = (template: KubeObject | undefined) => (template?.spec as any)?.podTemplate?.spec?.containers?.[0]?.resources;

  /** A toolkit session asking for `size`; its backing session id and the warm pool its claim names. */
  async function sessionOf(size: { memory?: string; cpu?: string }): Promise<{ id: string; pool: string }> {
    const res = await call('POST', '/sandbox/sessions/', { json: size });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const id = (res.body.ref as string).split('://')[1];
    const claim = find('SandboxClaim', `af-${id}`.toLowerCase());
    assert.ok(claim, 'a claim for the session');
    return { id, pool: (claim.spec as any).warmPoolRef.name };
  }

  before(async () => {
    cluster = await startDevCluster({ warmPoolReplicas: 1 });
    server = await startServer({
      config: { sandbox: 'kubernetes', limits: { memoryBytes: 768 * MiB } },
      env: { KUBECONFIG: cluster.kubeconfig },
    });
    api = new ApiClient(server.url, server.apiKey);
  });
  after(async () => {
    await server?.dispose();
    await cluster?.stop();
  });

  it('givesASessionAPodOfTheSizeItAskedFor', async () => {
    const { id, pool } = await sessionOf({ memory: '256Mi', cpu: '500m' });
    assert.match(pool, /^astraforge-runc-500m-256mi-[0-9a-f]{8}$/);
    const template = find('SandboxTemplate', pool)!;
    assert.ok(template, 'a template of that size');
    assert.equal(template.metadata.labels?.['app.kubernetes.io/managed-by'], 'astraforge');
    assert.equal(template.metadata.labels?.['astraforge.dev/sized-from'], 'astraforge-runc');
    assert.deepEqual(limitsOf(template).limits, {
      ...limitsOf(find('SandboxTemplate', 'astraforge-runc')).limits,
      memory: '256Mi',
      cpu: '500m',
    });
    assert.equal(limitsOf(template).requests.memory, '256Mi', 'no request above the limit');
    const sizedPool = find('SandboxWarmPool', pool)!;
    assert.deepEqual((sizedPool.spec as any).sandboxTemplateRef, { name: pool });
    assert.equal((sizedPool.spec as any).replicas, 0, 'no idle pods kept for a size');
    // The pod has that size: what fits in the tier's 2 GiB does not fit in it.
    const hog = await api.exec(id, 'python3 -c "x = bytearray(400 * 1024 * 1024); print(len(x))" 2>&1; echo rc=$?', 30_000);
    assert.doesNotMatch(hog.body.output, /^419430400$/m, 'allocated 400 MiB in a 256 MiB pod');
    assert.match(hog.body.output, /rc=(137|1)\b|MemoryError/);
    const small = await api.exec(id, 'python3 -c "x = bytearray(64 * 1024 * 1024); print(len(x))"');
    assert.equal(small.body.output, '67108864\n', 'what fits in it runs');
    const stats = await api.get(`/v1/sessions/${id}/stats`);
    assert.equal(stats.body.memory_limit, 256 * MiB);
  });

  it('makesEachSizeOnceAndSharesIt', async () => {
    const templates = list('SandboxTemplate').length;
    const a = await sessionOf({ memory: '320Mi' });
    const b = await sessionOf({ memory: '320Mi' });
    assert.equal(a.pool, b.pool);
    assert.match(a.pool, /^astraforge-runc-2000m-320mi-/, 'the CPU not asked about stays the tier template’s');
    assert.equal(list('SandboxTemplate').length, templates + 1);
    assert.equal(list('SandboxWarmPool').filter((p) => p.metadata.name === a.pool).length, 1);
    for (const s of [a, b]) assert.equal((await api.exec(s.id, 'echo ok')).body.output, 'ok\n');
  });

  it('boundsTheAskByTheServersLimitsAndKeepsTheTierForASessionThatAsksNothing', async () => {
    // 4 GiB asked, 768 MiB allowed by this server: the pod gets 768 MiB.
    const big = await sessionOf({ memory: '4Gi' });
    assert.match(big.pool, /^astraforge-runc-2000m-768mi-/);
    const plain = await sessionOf({});
    assert.equal(plain.pool, 'astraforge-runc', 'the tier’s warm pool');
    assert.equal((await api.exec(plain.id, 'echo ok')).body.output, 'ok\n');
  });
});
