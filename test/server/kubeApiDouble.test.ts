// The Kubernetes API double's fidelity, checked with the real kubectl
// (apply, get, get -w, wait, delete, patch of the status subresource) and
// with raw HTTP where kubectl hides the machinery (watch resume, 410 Gone,
// bookmarks, conflicts, Status errors).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startKubeDouble, type KubeDouble } from '../helpers/kube/kubeDouble';
import { until } from '../helpers/until';

const HAS_KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
const CLAIMS = '/apis/extensions.agents.x-k8s.io/v1beta1/namespaces/astraforge/sandboxclaims';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** kubectl, asynchronously: the API double answers from this same process. */
function kubectl(k: KubeDouble, args: string[], timeoutMs = 20_000): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn('kubectl', args, { env: { PATH: process.env.PATH ?? '', HOME: k.dir, KUBECONFIG: k.kubeconfig } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

function claimYaml(name: string, pool: string, labels = 'app: demo'): string {
  return `apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: ${name}
  labels: {${labels}}
spec:
  warmPoolRef: {name: ${pool}}
`;
}

describe('Kubernetes API double', function () {
  this.timeout(60_000);
  let k: KubeDouble;
  let dispatcher: Agent;

  const http = async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const res = await request(`${k.url}${path}`, {
      method: method as 'GET',
      dispatcher,
      headers: { authorization: `Bearer ${k.token}`, 'content-type': contentType },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, any> };
  };

  beforeEach(async () => {
    k = await startKubeDouble({ historyLimit: 20, bookmarkIntervalMs: 100 });
    dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  });
  afterEach(async () => {
    await dispatcher.close();
    await k.stop();
  });

  describe('with kubectl', function () {
    before(function () {
      if (!HAS_KUBECTL) this.skip();
    });

    it('appliesGetsAndDeletesClaimsWithKubectl', async () => {
      const file = join(k.dir, 'claim.yaml');
      writeFileSync(file, claimYaml('c1', 'pool-a'));
      let r = await kubectl(k, ['apply', '-f', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /sandboxclaim.extensions.agents.x-k8s.io\/c1 created/);
      r = await kubectl(k, ['apply', '-f', file]);
      assert.match(r.stdout, /c1 unchanged/);
      writeFileSync(file, claimYaml('c1', 'pool-b'));
      r = await kubectl(k, ['apply', '-f', file]);
      assert.match(r.stdout, /c1 configured/, r.stderr);
      r = await kubectl(k, ['get', 'sandboxclaim', 'c1', '-o', 'json']);
      const got = JSON.parse(r.stdout);
      assert.equal(got.spec.warmPoolRef.name, 'pool-b');
      assert.equal(got.metadata.generation, 2);
      assert.equal(got.metadata.namespace, 'astraforge');
      r = await kubectl(k, ['delete', 'sandboxclaim', 'c1']);
      assert.equal(r.code, 0, r.stderr);
      r = await kubectl(k, ['get', 'sandboxclaim', 'c1']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Error from server \(NotFound\): sandboxclaims.extensions.agents.x-k8s.io "c1" not found/);
    });

    it('selectsByLabelWithKubectl', async () => {
      const file = join(k.dir, 'claims.yaml');
      writeFileSync(
        file,
        [claimYaml('a1', 'p', 'team: a'), claimYaml('b1', 'p', 'team: b'), claimYaml('a2', 'p', 'team: a, tier: x')].join('---\n'),
      );
      assert.equal((await kubectl(k, ['apply', '-f', file])).code, 0);
      const names = async (sel: string) =>
        (await kubectl(k, ['get', 'sandboxclaims', '-l', sel, '-o', 'name'])).stdout.trim().split('\n').filter(Boolean);
      assert.deepEqual(await names('team=a'), ['sandboxclaim.extensions.agents.x-k8s.io/a1', 'sandboxclaim.extensions.agents.x-k8s.io/a2']);
      assert.deepEqual(await names('team!=a'), ['sandboxclaim.extensions.agents.x-k8s.io/b1']);
      assert.deepEqual(await names('team in (b),!tier'), ['sandboxclaim.extensions.agents.x-k8s.io/b1']);
      assert.deepEqual(await names('tier'), ['sandboxclaim.extensions.agents.x-k8s.io/a2']);
    });

    it('waitsForReadyAndWatchesWithKubectl', async () => {
      const file = join(k.dir, 'claim.yaml');
      writeFileSync(file, claimYaml('w1', 'pool'));
      assert.equal((await kubectl(k, ['apply', '-f', file])).code, 0);
      const watching = kubectl(k, ['get', 'sandboxclaims', '-w', '--output-watch-events', '--request-timeout=4s'], 6000);
      const waiting = kubectl(k, ['wait', '--for=condition=Ready', 'sandboxclaim/w1', '--timeout=15s']);
      await new Promise((r) => setTimeout(r, 800));
      const ready = {
        type: 'Ready',
        status: 'True',
        reason: 'DependenciesReady',
        message: 'up',
        lastTransitionTime: '2026-01-01T00:00:00Z',
        observedGeneration: 1,
      };
      const p = await kubectl(k, [
        'patch',
        'sandboxclaim',
        'w1',
        '--subresource=status',
        '--type=merge',
        '-p',
        JSON.stringify({ status: { conditions: [ready] } }),
      ]);
      assert.equal(p.code, 0, p.stderr);
      const w = await waiting;
      assert.equal(w.code, 0, w.stderr);
      assert.match(w.stdout, /sandboxclaim.extensions.agents.x-k8s.io\/w1 condition met/);
      assert.equal((await kubectl(k, ['delete', 'sandboxclaim', 'w1'])).code, 0);
      const events = (await watching).stdout;
      assert.match(events, /ADDED\s+w1/);
      assert.match(events, /MODIFIED\s+w1/);
      assert.match(events, /DELETED\s+w1/);
    });

    it('refusesInvalidClaimsWithStatusErrors', async () => {
      const file = join(k.dir, 'bad.yaml');
      writeFileSync(file, 'apiVersion: extensions.agents.x-k8s.io/v1beta1\nkind: SandboxClaim\nmetadata: {name: bad}\nspec: {}\n');
      const r = await kubectl(k, ['apply', '-f', file]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /spec.warmPoolRef.name: Required value/);
      const ns = await kubectl(k, ['apply', '-n', 'elsewhere', '-f', join(k.dir, 'bad.yaml')]);
      assert.match(ns.stderr, /namespaces "elsewhere" not found|Required value/);
    });
  });

  describe('API machinery over HTTP', () => {
    it('servesDiscoveryForTheAgentSandboxGroups', async () => {
      const apis = await http('GET', '/apis');
      const groups = apis.body.groups.map((g: { name: string }) => g.name);
      for (const g of ['agents.x-k8s.io', 'extensions.agents.x-k8s.io']) assert.ok(groups.includes(g), g);
      const ext = await http('GET', '/apis/extensions.agents.x-k8s.io/v1beta1');
      const names = ext.body.resources.map((r: { name: string }) => r.name);
      for (const n of ['sandboxclaims', 'sandboxclaims/status', 'sandboxtemplates', 'sandboxwarmpools', 'sandboxwarmpools/status'])
        assert.ok(names.includes(n), n);
      assert.equal((await http('GET', '/apis/nope.example/v1')).status, 404);
    });

    it('keepsStatusToItsSubresource', async () => {
      const created = await http('POST', CLAIMS, {
        metadata: { name: 's1' },
        spec: { warmPoolRef: { name: 'p' } },
        status: { sandbox: { name: 'forged' } },
      });
      assert.equal(created.status, 201);
      assert.equal(created.body.status, undefined, 'a create must not set status');
      const st = await http('PUT', `${CLAIMS}/s1/status`, {
        ...created.body,
        spec: { warmPoolRef: { name: 'changed' } },
        status: { sandbox: { name: 'sb' } },
      });
      assert.equal(st.status, 200);
      assert.equal(st.body.spec.warmPoolRef.name, 'p', 'the status subresource must not change spec');
      assert.equal(st.body.status.sandbox.name, 'sb');
      const main = await http(
        'PATCH',
        `${CLAIMS}/s1`,
        { status: { sandbox: { name: 'x' } }, metadata: { labels: { l: 'v' } } },
        'application/merge-patch+json',
      );
      assert.equal(main.body.status.sandbox.name, 'sb', 'the main resource must not change status');
      assert.equal(main.body.metadata.labels.l, 'v');
    });

    it('refusesStaleUpdatesWithConflict', async () => {
      const created = await http('POST', CLAIMS, { metadata: { name: 'c' }, spec: { warmPoolRef: { name: 'p' } } });
      const first = await http('PUT', `${CLAIMS}/c`, { ...created.body, metadata: { ...created.body.metadata, labels: { a: '1' } } });
      assert.equal(first.status, 200);
      const stale = await http('PUT', `${CLAIMS}/c`, { ...created.body, metadata: { ...created.body.metadata, labels: { a: '2' } } });
      assert.equal(stale.status, 409);
      assert.equal(stale.body.kind, 'Status');
      assert.equal(stale.body.reason, 'Conflict');
      const dup = await http('POST', CLAIMS, { metadata: { name: 'c' }, spec: { warmPoolRef: { name: 'p' } } });
      assert.equal(dup.body.reason, 'AlreadyExists');
      assert.equal(dup.body.code, 409);
    });

    it('resumesWatchesFromResourceVersionAndAnswers410WhenTooOld', async () => {
      const list = await http('GET', CLAIMS);
      const rv = list.body.metadata.resourceVersion as string;
      await http('POST', CLAIMS, { metadata: { name: 'r1' }, spec: { warmPoolRef: { name: 'p' } } });
      const lines = await watchLines(`${CLAIMS}?watch=1&resourceVersion=${rv}&timeoutSeconds=1`);
      assert.deepEqual(
        lines.map((l) => [l.type, l.object.metadata.name]),
        [['ADDED', 'r1']],
      );
      for (let i = 0; i < 25; i++) await http('POST', CLAIMS, { metadata: { name: `f${i}` }, spec: { warmPoolRef: { name: 'p' } } });
      const gone = await watchLines(`${CLAIMS}?watch=1&resourceVersion=${rv}`);
      assert.equal(gone.length, 1);
      assert.equal(gone[0].type, 'ERROR');
      assert.equal(gone[0].object.code, 410);
      assert.equal(gone[0].object.reason, 'Expired');
    });

    it('sendsBookmarksWhenAllowed', async () => {
      const lines = await watchLines(`${CLAIMS}?watch=1&allowWatchBookmarks=true&timeoutSeconds=1`);
      const marks = lines.filter((l) => l.type === 'BOOKMARK');
      assert.ok(marks.length >= 3, `bookmarks: ${marks.length}`);
      assert.equal(marks[0].object.kind, 'SandboxClaim');
      assert.match(marks[0].object.metadata.resourceVersion, /^\d+$/);
      const none = await watchLines(`${CLAIMS}?watch=1&timeoutSeconds=1`);
      assert.equal(none.filter((l) => l.type === 'BOOKMARK').length, 0);
    });

    it('refusesRequestsWithoutTheToken', async () => {
      const res = await request(`${k.url}/apis`, { dispatcher });
      assert.equal(res.statusCode, 401);
      assert.equal(((await res.body.json()) as { reason: string }).reason, 'Unauthorized');
    });
  });

  async function watchLines(path: string): Promise<{ type: string; object: Record<string, any> }[]> {
    const res = await request(`${k.url}${path}`, { dispatcher, headers: { authorization: `Bearer ${k.token}` } });
    const text = await res.body.text();
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  }

  it('deletesWhatANamespaceHolds', async () => {
    await http('POST', CLAIMS, { metadata: { name: 'n1' }, spec: { warmPoolRef: { name: 'p' } } });
    assert.equal((await http('DELETE', '/api/v1/namespaces/astraforge')).status, 200);
    await until(
      'claims gone',
      async () => (await http('GET', '/apis/extensions.agents.x-k8s.io/v1beta1/sandboxclaims')).body.items.length === 0,
    );
  });
});
