// The deployment in server/deploy/kubernetes: kustomize builds it, kubectl
// applies it (client dry run, then for real against the API double), and it
// holds what a platform team expects: RBAC limited to the provider's claims,
// warm pools and templates in its namespace (no pods, exec or secrets),
// three tiers by runtimeClass, warm pools naming templates that exist,
// non-root containers without capabilities, and the secrets referenced,
// never included.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { loadAllYaml } from '@kubernetes/client-node';
import { DEPLOY_DIR } from '../helpers/kube/devCluster';
import { startKubeDouble, type KubeDouble } from '../helpers/kube/kubeDouble';

const HAS_KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

function kubectl(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('kubectl', args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

type Obj = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };

describe('kubernetes deployment manifests', function () {
  this.timeout(60_000);
  let objects: Obj[];

  before(async function () {
    if (!HAS_KUBECTL) this.skip();
    const built = await kubectl(['kustomize', DEPLOY_DIR]);
    assert.equal(built.code, 0, built.stderr);
    objects = JSON.parse(JSON.stringify(loadAllYaml(built.stdout))) as Obj[]; // plain objects, not the client's classes
  });

  const ofKind = (kind: string) => objects.filter((o) => o.kind === kind);

  it('buildsWithKustomizeIntoOneNamespace', () => {
    for (const o of objects.filter((x) => x.kind !== 'Namespace'))
      assert.equal(o.metadata.namespace, 'astraforge', `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(ofKind('ClusterRole'), []);
    assert.deepEqual(ofKind('ClusterRoleBinding'), []);
    assert.deepEqual(ofKind('Secret'), [], 'secrets are referenced, never shipped');
  });

  it('grantsOnlyWhatTheProviderUses', () => {
    const [role] = ofKind('Role');
    const rules = role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    const granted = rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`)));
    assert.deepEqual(granted.sort(), [
      'agents.x-k8s.io/sandboxes',
      'extensions.agents.x-k8s.io/sandboxclaims',
      'extensions.agents.x-k8s.io/sandboxtemplates',
      'extensions.agents.x-k8s.io/sandboxwarmpools',
      'metrics.k8s.io/pods',
    ]);
    for (const r of rules) assert.ok(!r.verbs.includes('*') && !r.resources.some((x) => x.includes('*')));
    const claims = rules.find((r) => r.resources.includes('sandboxclaims'))!;
    assert.deepEqual([...claims.verbs].sort(), ['create', 'delete', 'get', 'list', 'patch', 'watch']);
    const metrics = rules.find((r) => r.apiGroups.includes('metrics.k8s.io'))!;
    assert.deepEqual(metrics.verbs, ['get']);
    // Sized templates and their pools are made, never changed or deleted (sizedPools.ts).
    const sizes = rules.find((r) => r.resources.includes('sandboxtemplates'))!;
    assert.deepEqual([...sizes.resources].sort(), ['sandboxtemplates', 'sandboxwarmpools']);
    assert.deepEqual([...sizes.verbs].sort(), ['create', 'get', 'list', 'watch']);
    for (const r of rules.filter((x) => x !== claims && x !== metrics && x !== sizes))
      assert.deepEqual([...r.verbs].sort(), ['get', 'list', 'watch']);
    const [binding] = ofKind('RoleBinding');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'astraforge-server', namespace: 'astraforge' }]);
    assert.equal(ofKind('Deployment')[0].spec.template.spec.serviceAccountName, 'astraforge-server');
  });

  it('definesThreeTiersAndWarmPoolsOfExistingTemplates', () => {
    const templates = ofKind('SandboxTemplate');
    const runtime: Record<string, string> = Object.fromEntries(
      templates.map((t) => [t.metadata.name, t.spec.podTemplate.spec.runtimeClassName ?? 'runc']),
    );
    assert.deepEqual(runtime, { 'astraforge-runc': 'runc', 'astraforge-gvisor': 'gvisor', 'astraforge-kata': 'kata' });
    for (const pool of ofKind('SandboxWarmPool'))
      assert.ok(
        templates.some((t) => t.metadata.name === pool.spec.sandboxTemplateRef.name),
        pool.metadata.name,
      );
    for (const t of templates) {
      const pod = t.spec.podTemplate.spec;
      assert.equal(pod.automountServiceAccountToken, false);
      assert.equal(pod.securityContext.runAsNonRoot, true);
      const c = pod.containers[0];
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.ok(c.resources.limits.memory && c.resources.limits.cpu);
      assert.ok(c.args.includes('--token-file'), 'the runner takes only clients with the session token');
      const egress = t.spec.networkPolicy.egress;
      assert.equal(egress.length, 1, 'sandboxes reach one place');
      assert.deepEqual(egress[0].to, [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'astraforge-server' } } }]);
      assert.deepEqual(egress[0].ports, [{ port: 8788, protocol: 'TCP' }], 'the gateway bridge only');
    }
  });

  it('runsTheServerRestrictedWithItsSecretsReferenced', () => {
    const [dep] = ofKind('Deployment');
    const pod = dep.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    const server = pod.containers[0];
    assert.equal(server.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(server.securityContext.capabilities.drop, ['ALL']);
    const secretRefs = server.env
      .filter((e: any) => e.valueFrom?.secretKeyRef)
      .map((e: any) => `${e.name}=${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`);
    assert.deepEqual(secretRefs, [
      'ASTRAFORGE_API_KEY=astraforge-server/api-key',
      'ASTRAFORGE_MODEL_API_KEY=astraforge-server/model-api-key',
    ]);
    const config = JSON.parse(ofKind('ConfigMap')[0].data['config.json']);
    assert.equal(config.sandbox, 'kubernetes');
    assert.equal(config.kubernetes.gatewayBridgePort, 8788, 'the port the templates let sandboxes reach');
  });

  describe('applied with kubectl against the API double', () => {
    let k: KubeDouble;
    before(async () => {
      k = await startKubeDouble({ namespace: 'default' });
    });
    after(async () => k?.stop());

    it('appliesWithAClientDryRunAndForReal', async () => {
      const env = { KUBECONFIG: k.kubeconfig, HOME: k.dir };
      const dry = await kubectl(['apply', '-k', DEPLOY_DIR, '--dry-run=client'], env);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /sandboxtemplate.extensions.agents.x-k8s.io\/astraforge-gvisor created \(dry run\)/);
      const real = await kubectl(['apply', '-k', DEPLOY_DIR], env);
      assert.equal(real.code, 0, real.stderr);
      const got = await kubectl(['get', 'sandboxwarmpools,sandboxtemplates,deployments,roles', '-n', 'astraforge', '-o', 'name'], env);
      assert.equal(got.code, 0, got.stderr);
      for (const n of [
        'sandboxwarmpool.extensions.agents.x-k8s.io/astraforge-runc',
        'sandboxtemplate.extensions.agents.x-k8s.io/astraforge-kata',
        'deployment.apps/astraforge-server',
        'role.rbac.authorization.k8s.io/astraforge-server',
      ]) {
        assert.ok(got.stdout.includes(n), `${n} in ${got.stdout}`);
      }
      const again = await kubectl(['apply', '-k', DEPLOY_DIR], env);
      assert.doesNotMatch(again.stdout, /created|configured/, 'a second apply changes nothing');
    });
  });
});
