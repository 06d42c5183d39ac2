// agent-sandbox's Python client, step for step, against a sandbox made from
// AstraForge's template on the cluster double: create a SandboxClaim, wait
// until it is Ready, then run, write, read, list and check files through the
// runtime HTTP API the image serves on port 8888, and delete the claim.
import assert from 'node:assert/strict';
import { FormData, request } from 'undici';
import { startDevCluster, type DevCluster } from '../helpers/kube/devCluster';
import { until } from '../helpers/until';
import { ClaimClient } from '../../server/src/sandboxes/kubernetes/claimClient';
import { waitForReadyClaim } from '../../server/src/sandboxes/kubernetes/claimReadiness';

// These name their provider themselves: the test command's pass against Docker would only repeat them.
const OTHER_PROVIDER_PASS = process.env.ASTRAFORGE_TEST_SANDBOX === 'docker';

describe('agent-sandbox runtime API on the AstraForge sandbox image', function () {
  before(function () {
    if (OTHER_PROVIDER_PASS) this.skip();
  });
  this.timeout(60_000);
  let cluster: DevCluster;
  let client: ClaimClient;

  before(async () => {
    cluster = await startDevCluster({ warmPoolReplicas: 1 });
    client = new ClaimClient({ kubeconfig: cluster.kubeconfig });
  });
  after(async () => cluster?.stop());

  it('claimsRunsWritesReadsAndDeletesLikeThePythonClient', async () => {
    await client.create({
      apiVersion: 'extensions.agents.x-k8s.io/v1beta1',
      kind: 'SandboxClaim',
      metadata: { name: 'py-client' },
      spec: { warmPoolRef: { name: 'astraforge-runc' } },
    });
    const ready = await waitForReadyClaim(client, 'py-client', 20_000);
    const base = `http://${ready.podIP}:8888`;
    await until('the runtime API answering', async () => (await request(`${base}/`).catch(() => undefined))?.statusCode === 200);

    const run = await request(`${base}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'echo hello; echo oops >&2; exit 3' }),
    });
    assert.deepEqual(await run.body.json(), { stdout: 'hello\n', stderr: 'oops\n', exit_code: 3 });

    const form = new FormData();
    form.append('file', new Blob([Buffer.from('print(6*7)\n')]), 'calc.py');
    const up = await request(`${base}/upload`, { method: 'POST', body: form });
    assert.equal(up.statusCode, 200, await up.body.text());
    const py = await request(`${base}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'python3 calc.py' }),
    });
    assert.equal(((await py.body.json()) as { stdout: string }).stdout, '42\n');

    const down = await request(`${base}/download/calc.py`);
    assert.equal(down.headers['content-type'], 'application/octet-stream');
    assert.equal(await down.body.text(), 'print(6*7)\n');
    const list = (await (await request(`${base}/list/.`)).body.json()) as { name: string; type: string; size: number }[];
    assert.deepEqual(
      list.map((e) => [e.name, e.type, e.size]),
      [['calc.py', 'file', 11]],
    );
    assert.deepEqual(await (await request(`${base}/exists/calc.py`)).body.json(), { path: 'calc.py', exists: true });
    assert.deepEqual(await (await request(`${base}/exists/nope.txt`)).body.json(), { path: 'nope.txt', exists: false });

    // Paths stay inside the workspace.
    assert.equal((await request(`${base}/download/..%2F..%2Fetc%2Fpasswd`)).statusCode, 404);
    const escape = new FormData();
    escape.append('file', new Blob([Buffer.from('x')]), '../../tmp/escape');
    await request(`${base}/upload`, { method: 'POST', body: escape });
    const where = await request(`${base}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ command: 'test -e /tmp/escape && echo outside; test -e /workspace/escape && echo inside' }),
    });
    assert.equal(
      ((await where.body.json()) as { stdout: string }).stdout,
      'inside\n',
      'an upload keeps only its base name, inside the workspace',
    );

    const pod = cluster.controller.podOf(cluster.namespace, 'py-client');
    assert.ok(pod?.alive, 'the claim has a live pod before the delete');
    await client.delete('py-client');
    await until('the pod process gone', () => !pod.alive);
    // Whatever may answer at a gone pod's IP (here the machine's default route leads to a proxy
    // that answers any address), the sandbox's runtime no longer does.
    await until('the runtime API gone from the pod IP', async () =>
      request(`${base}/`).then(
        async (r) => {
          await r.body.dump();
          return !String(r.headers.server).startsWith('astraforge-runtime/');
        },
        () => true,
      ),
    );
  });
});
