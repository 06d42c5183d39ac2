// agent-sandbox's router between the server and its pods: the router double
// answers as the real one does, and a server told of a router reaches each
// pod's runner only through it (X-Sandbox-ID, X-Sandbox-Namespace,
// X-Sandbox-Port), over the sandbox image's WebSocket bridge to af-runner.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { ApiClient } from '../helpers/apiClient';
import { startDevCluster, type DevCluster } from '../helpers/kube/devCluster';
import { startRouterDouble, type RouterDouble } from '../helpers/kube/routerDouble';
import { startServer, type ServerProcess } from '../helpers/serverProcess';

// These name their provider themselves: another provider's pass would only repeat them.
const OTHER_PROVIDER_PASS = process.env.ASTRAFORGE_TEST_SANDBOX !== undefined;
const ROUTER_TOKEN = 'router-secret-token';

function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.once('error', reject);
    req.end();
  });
}

describe('kubernetes provider through agent-sandbox router', function () {
  this.timeout(90_000);
  let cluster: DevCluster;
  let router: RouterDouble;
  let routerUrl: string;
  let server: ServerProcess | undefined;

  before(async function () {
    if (OTHER_PROVIDER_PASS) this.skip();
    cluster = await startDevCluster({ warmPoolReplicas: 1 });
    ({ router, url: routerUrl } = await startRouterDouble({ api: cluster.kube.api, token: ROUTER_TOKEN }));
  });
  after(async () => {
    await router?.stop();
    await cluster?.stop();
  });
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });

  async function serverWithRouter(token: string): Promise<ApiClient> {
    server = await startServer({
      // runnerPort 1: nothing listens there, so a session works only if the router carries it.
      config: { sandbox: 'kubernetes', kubernetes: { runnerPort: 1, readyTimeoutSeconds: 20 } },
      env: { KUBECONFIG: cluster.kubeconfig, ASTRAFORGE_KUBERNETES_ROUTER_URL: routerUrl, ASTRAFORGE_KUBERNETES_ROUTER_TOKEN: token },
    });
    return new ApiClient(server.url, server.apiKey);
  }

  it('refusesRequestsTheWayTheRouterDoes', async () => {
    const auth = { Authorization: `Bearer ${ROUTER_TOKEN}` };
    assert.deepEqual(await get(`${routerUrl}/healthz`, {}), { status: 200, body: { status: 'ok' } });
    assert.deepEqual(await get(`${routerUrl}/`, { 'X-Sandbox-ID': 'x' }), {
      status: 401,
      body: { detail: 'Missing or invalid Authorization header.' },
    });
    assert.deepEqual(await get(`${routerUrl}/`, { Authorization: 'Bearer wrong', 'X-Sandbox-ID': 'x' }), {
      status: 401,
      body: { detail: 'Invalid token.' },
    });
    assert.deepEqual(await get(`${routerUrl}/`, auth), { status: 400, body: { detail: 'X-Sandbox-ID header is required.' } });
    assert.deepEqual(await get(`${routerUrl}/`, { ...auth, 'X-Sandbox-ID': 'bad.sandbox.id' }), {
      status: 400,
      body: { detail: 'Invalid sandbox ID format.' },
    });
    assert.deepEqual(await get(`${routerUrl}/`, { ...auth, 'X-Sandbox-ID': 'x', 'X-Sandbox-Namespace': 'bad namespace!' }), {
      status: 400,
      body: { detail: 'Invalid namespace format.' },
    });
    for (const port of ['0', '65536', 'http']) {
      assert.deepEqual(await get(`${routerUrl}/`, { ...auth, 'X-Sandbox-ID': 'x', 'X-Sandbox-Port': port }), {
        status: 400,
        body: { detail: 'Invalid port format.' },
      });
    }
    assert.deepEqual(await get(`${routerUrl}/`, { ...auth, 'X-Sandbox-ID': 'no-such-sandbox', 'X-Sandbox-Namespace': cluster.namespace }), {
      status: 502,
      body: { detail: 'Could not connect to the backend sandbox: no-such-sandbox' },
    });
  });

  it('reachesEachPodsRunnerOnlyThroughTheRouterByItsSandboxName', async () => {
    const api = await serverWithRouter(ROUTER_TOKEN);
    const before = router.routed.length;
    const id = await api.createSession();
    const claim = cluster.kube.api.store.get(cluster.kube.api.kind('SandboxClaim'), cluster.namespace, `af-${id}`);
    const sandboxName = (claim.status as { sandbox: { name: string } }).sandbox.name;
    const routed = router.routed.slice(before);
    assert.deepEqual(
      routed.map((r) => [r.sandbox, r.namespace, r.port, r.path, r.websocket]),
      [[sandboxName, cluster.namespace, 8888, '/astraforge/runner', true]],
    );
    // Exec, state, streaming and files all ride the one tunnel.
    assert.equal((await api.exec(id, 'cd /tmp && export X=kept && echo started')).body.output, 'started\n');
    assert.equal((await api.exec(id, 'echo "$PWD $X"')).body.output, '/tmp kept\n');
    const big = 'x'.repeat(300_000);
    assert.equal((await api.post(`/v1/sessions/${id}/fs/write`, { path: 'big.txt', text: big })).status, 200);
    assert.equal((await api.exec(id, 'wc -c < /workspace/big.txt')).body.output, '300000\n');
    const read = await api.get(`/v1/sessions/${id}/fs/read?path=big.txt`);
    assert.equal(Buffer.from(read.body.content_base64, 'base64').toString(), big);
    assert.equal(router.routed.length, before + 1, 'one tunnel for the session');
    assert.equal((await api.delete(`/v1/sessions/${id}`)).status, 200);
  });

  it('failsTheSessionWithTheRoutersAnswerWhenItRefuses', async () => {
    const api = await serverWithRouter('not-the-token');
    const r = await api.post('/v1/sessions', {});
    assert.equal(r.status, 500);
    assert.match(
      r.body.message,
      /the router at http:\/\/127\.0\.0\.1:\d+ refused the tunnel to Sandbox "[a-z0-9-]+" \(401: Invalid token\.\)/,
    );
  });
});
