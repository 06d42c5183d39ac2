// The kubernetes provider against the cluster double: what the claim says
// (warm pool, labels, lease, token), session end and restart clean-up,
// failures reported with the claim's conditions, the runner's token check,
// warm pods versus cold starts, and readiness surviving a 410 Gone.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ApiClient } from '../helpers/apiClient';
import { startDevCluster, type DevCluster } from '../helpers/kube/devCluster';
import type { KubeObject } from '../helpers/kube/objectStore';
import { startServer, type ServerProcess } from '../helpers/serverProcess';
import { until } from '../helpers/until';
import { ClaimClient } from '../../server/src/sandboxes/kubernetes/claimClient';
import { waitForReadyClaim } from '../../server/src/sandboxes/kubernetes/claimReadiness';
import { instanceIdOf } from '../../server/src/instanceId';

// These name their provider themselves: the test command's pass against Docker would only repeat them.
const OTHER_PROVIDER_PASS = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';

describe('kubernetes provider (cluster double)', function () {
  before(function () {
    if (OTHER_PROVIDER_PASS) this.skip();
  });
  this.timeout(90_000);
  let cluster: DevCluster;
  const servers: ServerProcess[] = [];

  const claims = (): KubeObject[] => cluster.kube.api.store.list(cluster.kube.api.kind('SandboxClaim'), cluster.namespace);
  const sandboxes = (): KubeObject[] => cluster.kube.api.store.list(cluster.kube.api.kind('Sandbox'), cluster.namespace);

  async function server(kubernetes: Record<string, unknown> = {}, dataDir?: string): Promise<{ srv: ServerProcess; api: ApiClient }> {
    const srv = await startServer({ dataDir, config: { sandbox: 'kubernetes', kubernetes }, env: { KUBECONFIG: cluster.kubeconfig } });
    servers.push(srv);
    return { srv, api: new ApiClient(srv.url, srv.apiKey) };
  }

  before(async () => {
    cluster = await startDevCluster({ warmPoolReplicas: 1 });
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.dispose();
  });
  after(async () => cluster?.stop());

  it('createsALabelledClaimFromTheWarmPoolAndDeletesItAtSessionEnd', async () => {
    const { srv, api } = await server();
    const id = await api.createSession();
    const claim = claims().find((c) => c.metadata.labels?.['astraforge.dev/session'] === id)!;
    assert.ok(claim, 'a claim for the session');
    assert.equal(claim.metadata.name, `af-${id}`);
    assert.equal(claim.metadata.labels!['app.kubernetes.io/managed-by'], 'astraforge');
    assert.equal(claim.metadata.labels!['astraforge.dev/instance'], instanceIdOf(srv.dataDir));
    const spec = claim.spec as any;
    assert.deepEqual(spec.warmPoolRef, { name: 'astraforge-runc' });
    assert.equal(spec.lifecycle.shutdownPolicy, 'Delete');
    const lease = Date.parse(spec.lifecycle.shutdownTime) - Date.now();
    assert.ok(lease > 800_000 && lease <= 900_000, `shutdownTime ${spec.lifecycle.shutdownTime}`);
    const token = spec.additionalPodMetadata.annotations['astraforge.dev/runner-token'];
    assert.match(token, /^[A-Za-z0-9_-]{40,}$/);
    // Cold: the claim's name; adopted from the warm pool: the name the pool gave it.
    const sandboxName = (claim.status as any).sandbox.name as string;
    assert.ok(sandboxName === claim.metadata.name || sandboxName.startsWith('astraforge-runc-'), sandboxName);
    assert.ok(!JSON.stringify((await api.get(`/v1/sessions/${id}`)).body).includes(token), 'the token never leaves the server');
    const r = await api.exec(id, 'echo $((6*7)) > /workspace/a && cat /workspace/a && hostname');
    assert.equal(r.body.exit_code, 0);
    assert.match(r.body.output, /^42\n/);
    const pod = cluster.controller.podOf(cluster.namespace, claim.metadata.name)!;
    assert.ok(pod.alive);
    assert.equal((await api.delete(`/v1/sessions/${id}`)).status, 200);
    await until(
      'claim, sandbox and pod gone',
      () =>
        !claims().some((c) => c.metadata.name === claim.metadata.name) &&
        !sandboxes().some((s) => s.metadata.name === sandboxName) &&
        !pod.alive,
    );
  });

  it('renewsTheClaimsShutdownTimeWhileTheSessionLives', async function () {
    this.timeout(60_000);
    const { api } = await server({ claimLeaseSeconds: 60 });
    const id = await api.createSession();
    const shutdown = () => Date.parse((claims().find((c) => c.metadata.name === `af-${id}`)!.spec as any).lifecycle.shutdownTime);
    const first = shutdown();
    assert.ok(first - Date.now() <= 60_000 && first - Date.now() > 50_000);
    // Renewed every third of the lease: the claim would outlive a crashed server by at most 60 s.
    const renewed = await until('a renewed shutdownTime', () => (shutdown() > first ? shutdown() : undefined), {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    assert.ok(renewed - first >= 15_000, `renewed by ${renewed - first} ms`);
  });

  it('adoptsAWarmPodWhenThePoolHasOneAndStartsColdOtherwise', async () => {
    const { api } = await server();
    const launchOf = (id: string) =>
      sandboxes().find((x) => (x.metadata.ownerReferences as { name: string }[] | undefined)?.[0]?.name === `af-${id}`)?.metadata.labels?.[
        'agents.x-k8s.io/launch-type'
      ];
    await until('a ready warm pod', () => cluster.controller.warmReady(cluster.namespace, 'astraforge-runc') >= 1);
    const warm = await api.createSession();
    assert.equal(launchOf(warm), 'warm');
    const poolKind = cluster.kube.api.kind('SandboxWarmPool');
    const setReplicas = (n: number) => {
      const pool = cluster.kube.api.store.get(poolKind, cluster.namespace, 'astraforge-runc');
      cluster.kube.api.store.update(
        poolKind,
        cluster.namespace,
        { ...pool, metadata: { ...pool.metadata, resourceVersion: undefined }, spec: { ...(pool.spec as object), replicas: n } },
        'main',
      );
    };
    setReplicas(0);
    try {
      await until('the pool empty', () => cluster.controller.warmReady(cluster.namespace, 'astraforge-runc') === 0);
      const cold = await api.createSession();
      assert.equal(launchOf(cold), 'cold');
      for (const id of [warm, cold]) assert.equal((await api.exec(id, 'true')).body.exit_code, 0);
    } finally {
      setReplicas(1);
    }
  });

  for (const [failure, expected] of [
    [
      'Unschedulable',
      /af-[a-z0-9]+.*not become Ready within 3 s.*Ready=False \(DependenciesNotReady\).*Unschedulable.*Insufficient memory/,
    ],
    ['ImagePullBackOff', /ImagePullBackOff.*Back-off pulling image/],
    ['NeverReady', /did not become Ready within 3 s.*ContainersNotReady/],
  ] as const) {
    it(`reportsTheClaimsConditionsWhenItCannotBeReady(${failure})`, async () => {
      const { api } = await server({ readyTimeoutSeconds: 3 });
      cluster.controller.failNext(failure);
      const r = await api.post('/v1/sessions', {});
      assert.equal(r.status, 500);
      assert.match(r.body.message, expected);
      await until('the failed claim deleted', () => !claims().some((c) => r.body.message.includes(`"${c.metadata.name}"`)));
    });
  }

  it('failsAtOnceWhenTheWarmPoolDoesNotExist', async () => {
    const { api } = await server({ pools: { ghost: 'no-such-pool' } });
    const started = Date.now();
    const r = await api.post('/v1/sessions', { image: 'ghost' });
    assert.equal(r.status, 500);
    assert.match(r.body.message, /WarmPoolNotFound.*SandboxWarmPool "no-such-pool" not found/);
    assert.ok(Date.now() - started < 10_000);
  });

  it('deletesLeftoverClaimsOfThisServerAtStartUp', async () => {
    const { srv, api } = await server();
    const id = await api.createSession();
    const mine = `af-${id}`;
    const dataDir = srv.dataDir;
    await srv.kill(); // a crash: the claim stays
    servers.splice(servers.indexOf(srv), 1);
    const kind = cluster.kube.api.kind('SandboxClaim');
    cluster.kube.api.store.create(kind, cluster.namespace, {
      metadata: {
        name: 'someone-else',
        labels: { 'app.kubernetes.io/managed-by': 'astraforge', 'astraforge.dev/instance': 'another000000' },
      },
      spec: { warmPoolRef: { name: 'astraforge-runc' } },
    });
    assert.ok(claims().some((c) => c.metadata.name === mine));
    const again = await server({}, dataDir);
    await until('the crashed server claim deleted', () => !claims().some((c) => c.metadata.name === mine));
    assert.ok(
      claims().some((c) => c.metadata.name === 'someone-else'),
      "another server's claim is left alone",
    );
    cluster.kube.api.store.delete(kind, cluster.namespace, 'someone-else');
    await again.srv.dispose();
    servers.splice(servers.indexOf(again.srv), 1);
  });

  it('runnerRefusesAConnectionWithoutTheSessionToken', async () => {
    const { api } = await server();
    const id = await api.createSession();
    const claim = claims().find((c) => c.metadata.name === `af-${id}`)!;
    const ip = (claim.status as any).sandbox.podIPs[0] as string;
    // The runner serves one client: the server holds it, and a stranger gets nothing.
    for (const line of ['wrong-token\n', `${(claim.spec as any).additionalPodMetadata.annotations['astraforge.dev/runner-token']}\n`]) {
      const got = await new Promise<string>((resolve) => {
        const s = connect({ host: ip, port: 7070 });
        let data = '';
        s.on('connect', () => s.write(line));
        s.on('data', (d) => (data += d.toString('latin1')));
        s.on('error', () => resolve(`error:${data}`));
        s.on('close', () => resolve(data));
        setTimeout(() => {
          s.destroy();
          resolve(`open:${data}`);
        }, 1500);
      });
      assert.ok(!got.includes('H'), `a stranger got a runner hello: ${JSON.stringify(got)}`);
    }
    assert.equal((await api.exec(id, 'echo still mine')).body.output, 'still mine\n');
  });

  it('waitsThroughA410GoneByListingAgain', async () => {
    const client = new ClaimClient({ kubeconfig: cluster.kubeconfig });
    const kind = cluster.kube.api.kind('SandboxClaim');
    // A claim on a pool the controller double does not know stays pending; this test plays the controller.
    cluster.kube.api.store.create(kind, cluster.namespace, {
      metadata: { name: 'gone-410' },
      spec: { warmPoolRef: { name: 'astraforge-runc' } },
    });
    cluster.controller.failNext('NeverReady');
    const waiting = waitForReadyClaim(client, 'gone-410', 20_000);
    await until('a watch open', () => cluster.kube.api.requests.some((r) => r.path.includes('fieldSelector=metadata.name%3Dgone-410')));
    const lists = () =>
      cluster.kube.api.requests.filter((r) => r.path.includes('metadata.name%3Dgone-410') && !r.path.includes('watch')).length;
    const listsBefore = lists();
    const goneBefore = cluster.kube.api.expiredWatches;
    cluster.kube.api.store.compact();
    for (let i = 0; i < 3; i++) {
      cluster.kube.api.store.create(kind, cluster.namespace, { metadata: { name: `churn-${i}` }, spec: { warmPoolRef: { name: 'none' } } });
    }
    cluster.kube.api.store.compact();
    cluster.kube.api.dropWatches(); // the watch must resume from a resourceVersion that is now gone: 410, then a new list
    const current = cluster.kube.api.store.get(kind, cluster.namespace, 'gone-410');
    await until('a 410 and a re-list', () => cluster.kube.api.expiredWatches > goneBefore && lists() > listsBefore);
    cluster.kube.api.store.update(
      kind,
      cluster.namespace,
      {
        ...current,
        metadata: { ...current.metadata, resourceVersion: undefined },
        status: { conditions: [{ type: 'Ready', status: 'True' }], sandbox: { name: 'gone-410', podIPs: ['127.9.9.9'] } },
      },
      'status',
    );
    assert.deepEqual(await waiting, { sandboxName: 'gone-410', podIP: '127.9.9.9' });
    for (const n of ['gone-410', 'churn-0', 'churn-1', 'churn-2']) cluster.kube.api.store.delete(kind, cluster.namespace, n);
  });
});
